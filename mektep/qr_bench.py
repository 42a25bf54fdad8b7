"""Measure the gateway's offline check of the Social Wallet's dynamic QR (for ``mektep bench notify``).

A school of ``students`` children, each with a card and a Wallet voucher, as the gateway holds it in
memory; ``codes`` distinct codes made by the Wallet's key (the simulator's, as the parent's app
would show them), each decided as the pipeline decides a scanned text: the voucher taken for the
credential hash, then the policy (signature, time window, once only, the voucher's child, the
turnstile's rule). The baseline is the same school's cards decided the same way: the difference is
what a QR code costs over a card.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_drivers.base import CardRead, Direction
from gateway.roster.store import CardEntry, RosterIndex
from gateway.taps.drafts import CredentialHasher
from gateway.taps.policy import AccessPoint, Place
from gateway.taps.rules import RosterPolicy
from shared.contract import CredentialKind
from shared.localtime import LOCAL_TZ
from shared.roster_contract import PersonRole, RosterPerson
from shared.wallet_qr import STEP_S, credential_of
from simulators.social_wallet import wallet_code

__all__ = ["bench_qr_verify"]

_DOOR = AccessPoint("in-1", Place.TURNSTILE, Direction.ENTRY)


def _p99_ms(samples: list[float]) -> float:
    samples.sort()
    return samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def bench_qr_verify(students: int = 3000, codes: int = 10_000, seed: int = 2026) -> dict[str, float | int]:
    """Decide ``codes`` Wallet codes and as many card taps; their p99 in milliseconds, and what was refused."""
    rng = random.Random(seed)
    wallet = Ed25519PrivateKey.generate()
    hasher = CredentialHasher(rng.randbytes(32))
    people, cards, vouchers = {}, {}, {}
    card_numbers = []
    for i in range(students):
        person = RosterPerson(
            id=uuid.UUID(int=rng.getrandbits(128)),
            role=PersonRole.STUDENT,
            display_name=f"Child {i}",
            consent=True,
            qr_consent=True,
            wallet_voucher_id=uuid.UUID(int=rng.getrandbits(128)),
        )
        people[str(person.id)] = person
        number = f"{rng.getrandbits(40):010X}"
        card_numbers.append(number)
        cards[hasher(number)] = CardEntry(str(person.id), blocked=False)
        vouchers[person.wallet_voucher_id] = str(person.id)
    index = RosterIndex(
        school_id="qr-bench", version=1, people=people, cards=cards, vouchers=vouchers, wallet_key=wallet.public_key()
    )
    policy = RosterPolicy(index)
    now = datetime.now(LOCAL_TZ)
    ids = [p.wallet_voucher_id for p in people.values()]
    # Distinct codes, all within the time window, as a morning's would be: each child's code of
    # this step, the one before, the one after (a phone's clock ahead), and two before.
    steps = (0, -1, 1, -2)
    texts = [
        wallet_code(wallet, ids[i % students], now.timestamp() + STEP_S * steps[i // students % len(steps)])  # type: ignore[arg-type]
        for i in range(min(codes, students * len(steps)))
    ]
    qr_ms, qr_cpu_ms, card_ms, refused = [], [], [], 0
    for text in texts:
        read = CardRead(_DOOR.device_id, text, CredentialKind.QR, now)
        started, cpu = time.perf_counter_ns(), time.thread_time_ns()
        verdict = policy.decide(read, _DOOR, hasher(credential_of(text)))
        qr_cpu_ms.append((time.thread_time_ns() - cpu) / 1e6)
        qr_ms.append((time.perf_counter_ns() - started) / 1e6)
        refused += not verdict.granted
    for _ in range(codes):
        read = CardRead(_DOOR.device_id, rng.choice(card_numbers), CredentialKind.EM4100, now)
        started = time.perf_counter_ns()
        policy.decide(read, _DOOR, hasher(read.credential))
        card_ms.append((time.perf_counter_ns() - started) / 1e6)
    return {
        "qr_verify_p99_ms": round(_p99_ms(qr_ms), 3),
        "qr_verify_p50_ms": round(statistics.median(qr_ms), 3),
        # The check's own CPU time: what the wall-clock p99 is once a busy machine's preemption is taken out.
        "qr_verify_cpu_p99_ms": round(_p99_ms(qr_cpu_ms), 3),
        "baseline_card_p99_ms": round(_p99_ms(card_ms), 3),
        "qr_codes": len(texts),
        "qr_refused": refused,
    }
