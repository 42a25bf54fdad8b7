"""The school's Mosquitto broker, generated from the site file: ``mosquitto.conf`` and the ACL
(``mosquitto_config``) and the password file (``mosquitto_passwd``)."""
