"""``mektep sim``: the simulators from the command line (thin shells over the library)."""

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
    cards: int = typer.Option(10, help="How many cards to present."),
    rate: float = typer.Option(2.0, help="Cards per second."),
    noise: bool = typer.Option(False, help="Put garbage on the line between frames."),
    wait: float = typer.Option(5.0, help="Seconds to wait for the gateway to open the port first."),
) -> None:
    """An EM4100 reader on a pseudo-terminal; prints the feedback the gateway writes back.

    Example:
        mektep sim serial-reader --link var/ttyIN --cards 20 --rate 5 --noise
    """
    console = Console()
    link.parent.mkdir(parents=True, exist_ok=True)
    sim = SerialReaderSim(link)
    console.print(f"reader on {link} -> {link.resolve()}")
    time.sleep(wait)
    rng = random.Random()
    for _ in range(cards):
        if noise:
            sim.noise()
        card = random_card(rng)
        sim.present(card)
        line = sim.next_feedback(2.0)
        console.print(f"{card}: {line.text if line else 'no feedback'}", highlight=False)
        time.sleep(1 / rate)
    sim.close()


@app.command("canteen-terminal")
def canteen_terminal(
    host: str = typer.Option("127.0.0.1", help="Broker host."),
    port: int = typer.Option(1883, help="Broker port."),
    school: str = typer.Option("demo-school", help="School id (topic prefix)."),
    device: str = typer.Option("canteen-1", help="Terminal id."),
    taps: int = typer.Option(10, help="How many taps to publish."),
    rate: float = typer.Option(2.0, help="Taps per second."),
) -> None:
    """A canteen terminal over MQTT; prints the feedback for each tap.

    Example:
        mektep sim canteen-terminal --port 1883 --school demo-school --device canteen-1 --taps 5
    """
    console = Console()
    sim = CanteenTerminalSim(host, port, school=school, device=device)
    sim.wait_connected()
    rng = random.Random()
    for _ in range(taps):
        tap_id = sim.tap(random_card(rng))
        fb = sim.wait_feedback(lambda m, t=tap_id: m.get("tap_id") == t, timeout_s=5)
        console.print(f"{tap_id}: {fb if fb else 'no feedback'}", highlight=False)
        time.sleep(1 / rate)
    sim.close()


@app.command()
def broker() -> None:
    """Run an MQTT broker on a free port until Ctrl-C.

    Example:
        mektep sim broker
    """
    running = start_broker(allow_embedded=True)
    Console().print(f"broker listening on {running.host}:{running.port}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        running.stop()
