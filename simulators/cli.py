"""``mektep sim``: the simulators from the command line, each command a thin shell over the library."""

from __future__ import annotations

import random
import time
from pathlib import Path

import typer
from rich.console import Console

from simulators.broker import start_broker
from simulators.canteen_terminal import CanteenTerminalSim
from simulators.serial_reader import SerialReaderSim, random_card

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
    console = Console(soft_wrap=True)  # paths and payloads stay on one line, for grep and for tests
    sim = SerialReaderSim(link, seed=seed)
    try:
        console.print(f"reader on {sim.link} -> {sim.slave_path}", highlight=False)
        time.sleep(wait)
        rng = random.Random(seed)
        for _ in range(cards):
            if noise:
                sim.noise()
            card = random_card(rng)
            sent = sim.present(card)
            line = sim.next_feedback(feedback_timeout)
            answer = f"{line.text}  ({(line.at - sent) * 1000:.1f} ms)" if line else "no feedback"
            console.print(f"{card}: {answer}", highlight=False)
            time.sleep(1 / rate)
    finally:
        sim.close()


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
