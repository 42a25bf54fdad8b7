"""Canteen terminals over MQTT: ``codec`` (payloads and topics, pure) and ``driver`` (paho-mqtt, asyncio)."""

from device_drivers.mqtt_terminal.driver import MqttTerminalConfig, MqttTerminalDriver

__all__ = ["MqttTerminalConfig", "MqttTerminalDriver"]
