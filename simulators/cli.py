"""``mektep sim``: the simulators from the command line, each command a thin shell over the library."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console

from device_drivers.osdp.codec import raw_credential
from device_drivers.wiegand.codec import encode
from simulators.broker import start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.osdp_readers import OsdpReadersSim, ReaderSpec, SimReader
from simulators.qr_scanner import QrScannerSim, random_code
from simulators.serial_device import SerialDeviceSim
from simulators.serial_reader import SerialReaderSim, random_card
from simulators.turnstile import TurnstileSim
from simulators.wiegand_converter import WiegandConverterSim, random_badge

__all__ = ["app"]

app = typer.Typer(help="Simulated readers, terminals and a broker.", no_args_is_help=True, add_completion=False)


@app.command("serial-reader")
def serial_reader(
    link: Path = typer.Option(Path("var/ttyREADER"), help="Stable path the gateway opens (a symlink to the pty)."),
    cards: int = typer.Option(10, min=0, help="How many cards to present."),
    rate: float = typer.Option(2.0, min=0.01, help="Cards per second."),
    noise: bool = typer.Option(False, help="Put garbage on the line before each card."),
    seed: int = typer.Option(0, help="Seed of the cards and the noise (same seed, same taps)."),
    wait: float = typer.Option(5.0, min=0, help="Seconds to wait for the gateway to open the port first."),
    feedback_timeout: float = typer.Option(2.0, min=0, help="Seconds to wait for each feedback line."),
) -> None:
    """An EM4100 reader on a pseudo-terminal; prints the feedback the gateway writes back.

    Creates the pty behind LINK, presents the cards and prints each answer with its latency.

    Example:
        mektep sim serial-reader --link var/ttyIN --cards 20 --rate 5 --noise
    """
    sim = SerialReaderSim(link, seed=seed)
    rng = random.Random(seed)

    def present() -> tuple[str, float]:
        card = random_card(rng)
        return card, sim.present(card)

    noisy = sim.noise if noise else None
    _play(sim, "reader", present, cards, rate=rate, noise=noisy, wait=wait, feedback_timeout=feedback_timeout)


@app.command("wiegand-converter")
def wiegand_converter(
    link: Path = typer.Option(Path("var/ttyWIEGAND"), help="Stable path the gateway opens (a symlink to the pty)."),
    cards: int = typer.Option(10, min=0, help="How many cards to present."),
    bits: int = typer.Option(26, help="Frame length: 26 or 34."),
    fmt: str = typer.Option("bits", "--format", help="Converter output: 'bits' (W26 0101…) or 'hex' (26:1A2B3C4)."),
    rate: float = typer.Option(2.0, min=0.01, help="Cards per second."),
    noise: bool = typer.Option(False, help="Put a bad line (parity, bit count, garbage, overlong) before each card."),
    seed: int = typer.Option(0, help="Seed of the cards and the noise (same seed, same taps)."),
    wait: float = typer.Option(5.0, min=0, help="Seconds to wait for the gateway to open the port first."),
    feedback_timeout: float = typer.Option(2.0, min=0, help="Seconds to wait for each feedback line."),
) -> None:
    """A Wiegand reader behind its serial converter on a pseudo-terminal; prints the gateway's answers.

    Each card is printed as FFF:NNNNN (facility and card number), the credential the gateway reads.

    Example:
        mektep sim wiegand-converter --link var/ttyIN --format hex --bits 34 --cards 5 --noise
    """
    if bits not in (26, 34) or fmt not in ("bits", "hex"):
        raise typer.BadParameter("--bits is 26 or 34, --format is bits or hex")
    form: Literal["bits", "hex"] = "bits" if fmt == "bits" else "hex"
    sim = WiegandConverterSim(link, fmt=form, seed=seed)
    rng = random.Random(seed)

    def present() -> tuple[str, float]:
        facility, card = random_badge(rng, bits)
        return encode(bits, facility, card).credential, sim.present(facility, card, bits)

    noisy = sim.noise if noise else None
    _play(sim, "converter", present, cards, rate=rate, noise=noisy, wait=wait, feedback_timeout=feedback_timeout)


@app.command("qr-scanner")
def qr_scanner(
    link: Path = typer.Option(Path("var/ttyQR"), help="Stable path the gateway opens (a symlink to the pty)."),
    codes: int = typer.Option(10, min=0, help="How many codes to scan."),
    rate: float = typer.Option(2.0, min=0.01, help="Codes per second."),
    noise: bool = typer.Option(False, help="Put a bad line (control characters, bad UTF-8, overlong) before each."),
    seed: int = typer.Option(0, help="Seed of the codes and the noise."),
    wait: float = typer.Option(5.0, min=0, help="Seconds to wait for the gateway to open the port first."),
    feedback_timeout: float = typer.Option(
        2.0, min=0, help="Seconds to wait for each feedback line (0: a bare scanner hears nothing)."
    ),
) -> None:
    """A QR / barcode scanner on a pseudo-terminal, scanning codes like the Social Wallet's dynamic QR.

    Example:
        mektep sim qr-scanner --link var/ttyQR --codes 5 --noise --feedback-timeout 0
    """
    sim = QrScannerSim(link, seed=seed)
    rng = random.Random(seed)

    def present() -> tuple[str, float]:
        code = random_code(rng)
        return code, sim.scan(code)

    noisy = sim.noise if noise else None
    _play(sim, "scanner", present, codes, rate=rate, noise=noisy, wait=wait, feedback_timeout=feedback_timeout)


@app.command()
def turnstile(
    link: Path = typer.Option(Path("var/ttyRELAY"), help="Stable path the gateway opens (a symlink to the pty)."),
    entry: str = typer.Option("OPEN IN", help="The command that opens for entry (the profile's 'entry')."),
    exit_: str = typer.Option("OPEN OUT", "--exit", help="The command that opens for exit (the profile's 'exit')."),
    ack: str = typer.Option("OK", help="The answer to a command ('' for none)."),
    jammed: bool = typer.Option(False, help="Answer every command with 'ERR jammed'."),
    seconds: float = typer.Option(0, min=0, help="Stop after this many seconds (0: run until Ctrl-C)."),
) -> None:
    """A turnstile's relay board on a pseudo-terminal; prints every pulse the gateway sends it.

    Example:
        mektep sim turnstile --link var/ttyRELAY --seconds 60
    """
    console = Console(soft_wrap=True)
    sim = TurnstileSim(link, entry=entry, exit=exit_, ack=ack or None)
    sim.jammed = jammed
    deadline = time.monotonic() + seconds if seconds else None
    shown = 0
    try:
        console.print(f"turnstile on {sim.link} -> {sim.slave_path}", highlight=False)
        while deadline is None or time.monotonic() < deadline:
            sim.wait_pulses(shown + 1, timeout_s=0.1)
            for pulse in list(sim.pulses)[shown:]:
                opened = pulse.direction.value if pulse.direction else "unknown command"
                console.print(f"{opened}: {pulse.text!r}", highlight=False)
                shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()


def _play(
    sim: SerialDeviceSim,
    what: str,
    present: Callable[[], tuple[str, float]],
    count: int,
    *,
    rate: float,
    noise: Callable[..., object] | None,
    wait: float,
    feedback_timeout: float,
) -> None:
    """Present ``count`` credentials (noise first if asked) and print the answer to each with its latency."""
    console = Console(soft_wrap=True)  # paths and payloads stay on one line, for grep and for tests
    try:
        console.print(f"{what} on {sim.link} -> {sim.slave_path}", highlight=False)
        time.sleep(wait)
        for _ in range(count):
            if noise is not None:
                noise()
            label, sent = present()
            line = sim.next_feedback(feedback_timeout) if feedback_timeout > 0 else None
            answer = f"{line.text}  ({(line.at - sent) * 1000:.1f} ms)" if line else "no feedback"
            console.print(f"{label}: {answer}", highlight=False)
            time.sleep(1 / rate)
    finally:
        sim.close()


@app.command("osdp-readers")
def osdp_readers(
    link: Path = typer.Option(Path("var/ttyOSDP"), help="Stable path the gateway opens (a symlink to the pty)."),
    readers: int = typer.Option(2, min=1, max=126, help="How many readers share the bus."),
    first_address: int = typer.Option(1, min=0, max=126, help="OSDP address of the first reader; the rest follow."),
    scbk_env: str = typer.Option(
        "MEKTEP_OSDP_SCBK", help="Variable holding the readers' SCBK (32 hex); unset: factory-fresh readers."
    ),
    cards: int = typer.Option(10, min=0, help="How many cards to present, reader after reader."),
    rate: float = typer.Option(2.0, min=0.01, help="Cards per second."),
    bits: int = typer.Option(26, min=1, max=64, help="Bits per card."),
    seed: int = typer.Option(0, help="Seed of the card numbers (same seed, same cards)."),
    wait: float = typer.Option(10.0, min=0, help="Seconds to wait for the gateway to bring every reader online."),
    feedback_timeout: float = typer.Option(2.0, min=0, help="Seconds to wait for each reader's LED."),
) -> None:
    """OSDP readers (libosdp PDs) on one pseudo-terminal bus; prints what each reader shows.

    Creates the pty behind LINK, waits for the control panel, presents the cards in turn and
    prints the LED, output and beep each reader was told, with the card → LED latency.

    Example:
        MEKTEP_OSDP_SCBK=00112233445566778899AABBCCDDEEFF mektep sim osdp-readers --link var/ttyOSDP --readers 8
    """
    console = Console(soft_wrap=True)  # paths and payloads stay on one line, for grep and for tests
    key_hex = os.environ.get(scbk_env)
    try:
        key = bytes.fromhex(key_hex) if key_hex else None
    except ValueError:
        key = b""
    if key is not None and len(key) != 16:
        raise typer.BadParameter(f"{scbk_env} must hold 32 hex characters", param_hint="--scbk-env")
    specs = [ReaderSpec(first_address + i, key) for i in range(readers)]
    if specs[-1].address > 126:
        raise typer.BadParameter("addresses run past 126", param_hint="--first-address")
    sim = OsdpReadersSim(link, specs)
    try:
        keyed = "SCBK from " + scbk_env if key else "factory-fresh (install mode)"
        addresses = ", ".join(str(s.address) for s in specs)
        console.print(f"bus on {sim.link} -> {sim.slave_path}; readers {addresses}; {keyed}", highlight=False)
        deadline = time.monotonic() + wait
        while not all(r.online for r in sim.readers.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        rng = random.Random(seed)
        for i in range(cards):
            reader = sim.reader(specs[i % readers].address)
            value = rng.getrandbits(bits)
            sent = reader.present(value, bits)
            shown = reader.wait(lambda r, t=sent: r.beep is not None and r.beep.at >= t, feedback_timeout)
            answer = _shown(reader, sent) if shown else "no LED"
            console.print(f"reader {reader.address}: {raw_credential(value, bits)} -> {answer}", highlight=False)
            time.sleep(1 / rate)
    finally:
        sim.close()


def _shown(reader: SimReader, sent: float) -> str:
    led, beep = reader.led, reader.beep
    assert led is not None and beep is not None
    pulses = [f"output {o.output_no} on {o.pulse_ms} ms" for o in reader.outputs.values() if o.on and o.at >= sent]
    return ", ".join([f"{led.colour} LED", *pulses, f"{beep.repeats} beep(s)"]) + f"  ({(led.at - sent) * 1000:.1f} ms)"


@app.command("canteen-terminal")
def canteen_terminal(
    host: str = typer.Option("127.0.0.1", help="Broker host."),
    port: int = typer.Option(1883, help="Broker port."),
    school: str = typer.Option("demo-school", help="School id (topic prefix)."),
    device: str = typer.Option("canteen-1", help="Terminal id."),
    taps: int = typer.Option(10, min=0, help="How many taps to publish."),
    rate: float = typer.Option(2.0, min=0.01, help="Taps per second."),
    username: str | None = typer.Option(None, help="Broker user name, if the broker wants one."),
    password: str | None = typer.Option(None, envvar="MEKTEP_TERMINAL_PASSWORD", help="Broker password."),
    seed: int = typer.Option(0, help="Seed of the card numbers."),
    feedback_timeout: float = typer.Option(5.0, min=0, help="Seconds to wait for each answer."),
) -> None:
    """A canteen terminal over MQTT; publishes taps at QoS 1 and prints the answer to each.

    Example:
        mektep sim canteen-terminal --port 1883 --school demo-school --device canteen-1 --taps 5
    """
    console = Console(soft_wrap=True)  # paths and payloads stay on one line, for grep and for tests
    sim = CanteenTerminalSim(host, port, school=school, device=device, username=username, password=password)
    try:
        sim.wait_connected()
        rng = random.Random(seed)
        for _ in range(taps):
            tap_id = sim.tap(random_card(rng))
            fb = sim.wait_feedback_for(tap_id, feedback_timeout)
            latency = sim.latency_s(tap_id)
            answer = f"{fb['status']} granted={fb['granted']} {fb['reason']} {fb['display']!r}" if fb else "no feedback"
            took = f"  ({latency * 1000:.1f} ms)" if latency is not None else ""
            console.print(f"{tap_id}: {answer}{took}", highlight=False)
            time.sleep(1 / rate)
    finally:
        sim.close()


@app.command()
def broker(
    port: int = typer.Option(0, help="Port to listen on (0: a free one)."),
    workdir: Path | None = typer.Option(None, help="Directory for the config and persistence (default: a temp dir)."),
    embedded: bool = typer.Option(True, help="Fall back to the embedded Python broker if mosquitto is absent."),
    seconds: float = typer.Option(0, min=0, help="Stop after this many seconds (0: run until Ctrl-C)."),
) -> None:
    """Run an MQTT broker (mosquitto, or the embedded one) on 127.0.0.1 and print where.

    Example:
        mektep sim broker --port 1883 --workdir var/broker
    """
    console = Console(soft_wrap=True)  # paths and payloads stay on one line, for grep and for tests
    try:
        running = start_broker(allow_embedded=embedded, workdir=workdir, port=port or None)
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"broker listening on {running.host}:{running.port}", highlight=False)
    deadline = time.monotonic() + seconds if seconds else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@app.command()
def nedb(
    port: int = typer.Option(0, help="Port to listen on (0: a free one)."),
    organisation: str = typer.Option("000000000001", help="The school's NEDB organisation code."),
    students: int = typer.Option(300, min=0, help="Students of the generated roster (its first version)."),
    client_id: str = typer.Option("mektep-gate", help="The client id the cloud sends (MEKTEP_CLOUD_NEDB_CLIENT_ID)."),
    key_env: str = typer.Option(
        "MEKTEP_CLOUD_NEDB_KEY", help="Variable holding the key the cloud signs with; unset: one is made and printed."
    ),
    fail: int = typer.Option(0, min=0, help="Answer the first N requests 503 (an NEDB that is down)."),
    delay: float = typer.Option(0.0, min=0, help="Answer every request this many seconds late (a slow NEDB)."),
    seed: int = typer.Option(2026, help="Seed of the generated roster."),
    seconds: float = typer.Option(0, min=0, help="Stop after this many seconds (0: run until Ctrl-C)."),
) -> None:
    """The National Education Database's exchange over HTTP: roster deltas out, figures in (simulated).

    Prints the settings the cloud needs (URL, public key, and the key when it made one), then every
    pull and figures packet it answers.

    Example:
        mektep sim nedb --port 8600 --organisation 000000000001 --students 500 --fail 3
    """
    from simulators.nedb import NedbServer, demo_roster

    console = Console(soft_wrap=True)  # keys and URLs stay on one line, for copy and for tests
    given = os.environ.get(key_env)
    key = given.encode() if given else random.randbytes(24).hex().encode()
    server = NedbServer(client_id=client_id, client_key=key, port=port or None)
    version = server.publish(organisation, demo_roster(students, seed))
    server.fail(fail)
    server.delay(delay)
    with server:
        console.print(f"MEKTEP_CLOUD_NEDB_URL={server.url}", highlight=False)
        console.print(f"MEKTEP_CLOUD_NEDB_PUBLIC_KEY={server.public_key_text}", highlight=False)
        if not given:
            console.print(f"{key_env}={key.decode()}", highlight=False)
        console.print(f"organisation {organisation}: roster version {version}", highlight=False)
        deadline = time.monotonic() + seconds if seconds else None
        pulls = packets = 0
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.1)
                with server.state.lock:
                    new_pulls = server.state.pulls[pulls:]
                    new_packets = list(server.state.received.values())[packets:]
                for org, since in new_pulls:
                    console.print(f"pull {org} since {since or 'the start'}", highlight=False)
                for packet in new_packets:
                    console.print(
                        f"figures {packet.organisation} {packet.kind} {packet.period}: {len(packet.records)} records",
                        highlight=False,
                    )
                pulls += len(new_pulls)
                packets += len(new_packets)
        except KeyboardInterrupt:
            pass


@app.command("wallet-code")
def wallet_code_command(
    voucher: str = typer.Option(..., help="The child's Social Wallet voucher id (a UUID)."),
    key_env: str = typer.Option(
        "MEKTEP_SIM_WALLET_QR_KEY",
        help="Variable holding the Wallet's QR signing key (base64 of the 32 raw private bytes); unset: one is made.",
    ),
    at: float = typer.Option(0.0, min=0, help="Unix time the code is for (0: now)."),
) -> None:
    """The dynamic QR code the Social Wallet app shows for a voucher now, as the gateway's scanner reads it.

    Prints the key the cloud needs (MEKTEP_CLOUD_SOCIAL_WALLET_QR_PUBLIC_KEY; and the signing key when it
    made one), then the code. Scan it with ``mektep sim qr-scanner``'s pty or any scanner.

    Example:
        mektep sim wallet-code --voucher 0191e3b4-7c1a-7000-8000-00000000a11a
    """
    import base64
    import uuid

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from shared.wallet_qr import public_key_text
    from simulators.social_wallet import wallet_code

    console = Console(soft_wrap=True)
    given = os.environ.get(key_env)
    try:
        voucher_id = uuid.UUID(voucher)
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(given)) if given else Ed25519PrivateKey.generate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"MEKTEP_CLOUD_SOCIAL_WALLET_QR_PUBLIC_KEY={public_key_text(key.public_key())}", highlight=False)
    if not given:
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        console.print(f"{key_env}={base64.b64encode(raw).decode()}", highlight=False)
    console.print(wallet_code(key, voucher_id, at or None), highlight=False)
