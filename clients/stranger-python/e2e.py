"""Two stranger clients against a running `meridian serve`: sign up, log in, join, move,
chat, leave, and check what they saw. Exits non-zero on the first failed check.

    python3 e2e.py --server http://127.0.0.1:8080
"""

import argparse
import asyncio
import math
import os
import sys
import time

import client
import wire

FAILURES = []


def check(condition, what):
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        FAILURES.append(what)


def in_world(conn, entity):
    w, h = conn.welcome["zone_width"], conn.welcome["zone_height"]
    return 0 <= wire.metres(entity["x"]) <= w and 0 <= wire.metres(entity["y"]) <= h


async def walk_and_check(conn, axis, speed, ticks):
    """Walk along `axis` ("x" or "y") away from the world's centre (where the plaza's
    elements stand), or towards it near the edge, then stop; check the avatar went that
    way, faced that way, ran, and that its inputs were acknowledged."""
    who = conn.who
    ok = await conn.wait_for(lambda: conn.own() is not None, 5)
    check(ok, f"{who}: its own avatar {conn.welcome['avatar_id']} is in a snapshot")
    if not ok:
        return
    start = conn.own()
    size = conn.welcome["zone_width" if axis == "x" else "zone_height"]
    at = wire.metres(start[axis])
    reach = speed * ticks / conn.tick_rate + 2.0
    sign = 1.0 if at > size / 2 else -1.0
    if not reach <= at + sign * reach <= size - reach:
        sign = -sign
    mx, my = (sign, 0.0) if axis == "x" else (0.0, sign)
    acked_before = conn.acked[-1]
    first_seq = conn.sequence + 1
    track_from = len(conn.own_track)
    client.log(who, f"at ({wire.metres(start['x']):.3f}, {wire.metres(start['y']):.3f}) m; "
                    f"walking {'+' if sign > 0 else '-'}{axis} at {speed} m/s for {ticks} ticks")
    last_seq = await conn.move(mx, my, speed, ticks)
    stop_seq = await conn.move(0.0, 0.0, 0.0, 3)  # speed 0: stand still (section 5.2)
    await conn.wait_for(lambda: conn.acked[-1] >= stop_seq, 3)
    end = conn.own()
    moving = [e for _, e in conn.own_track[track_from:] if e["animation"] in ("Walk", "Run")]
    other = "y" if axis == "x" else "x"
    d_axis = wire.metres(end[axis] - start[axis]) * sign
    d_other = abs(wire.metres(end[other] - start[other]))
    expected = speed * ticks / conn.tick_rate
    client.log(who, f"now at ({wire.metres(end['x']):.3f}, {wire.metres(end['y']):.3f}) m: "
                    f"{d_axis:.3f} m the way it walked (about {expected:.2f} asked), "
                    f"{d_other:.3f} m across; last input acknowledged {conn.acked[-1]}")
    check(d_axis >= 0.5 * expected, f"{who}: moved {d_axis:.2f} m in the direction of input "
                                    f"(at least half of {expected:.2f} m)")
    check(d_axis <= expected + speed / conn.tick_rate * conn.limits["input_hold_ticks"] + 0.05,
          f"{who}: no further than the inputs allow")
    check(d_other <= 0.05, f"{who}: {d_other:.3f} m across the direction of input")
    # Section 1.1: a moving avatar faces atan2(vy, vx), 1/1,024 of a turn per step.
    want = {("x", 1.0): 0, ("y", 1.0): 256, ("x", -1.0): 512, ("y", -1.0): 768}[(axis, sign)]
    check(bool(moving) and all(e["heading"] == want for e in moving),
          f"{who}: faced heading {want} while moving ({len(moving)} snapshots)")
    # Section 5.2: the server shows Run above limits.walk_speed.
    check(bool(moving) and all(e["animation"] == "Run" for e in moving),
          f"{who}: showed Run at {speed} m/s (walk_speed {conn.limits['walk_speed']})")
    check(end["animation"] == "Idle", f"{who}: Idle after the speed-0 inputs "
                                      f"(is {end['animation']})")
    seqs = conn.acked
    check(all(a <= b for a, b in zip(seqs, seqs[1:])), f"{who}: last_input_sequence never "
                                                        "went back")
    check(acked_before < first_seq <= last_seq <= conn.acked[-1] and conn.acked[-1] == stop_seq,
          f"{who}: acknowledgements advanced from {acked_before} to {conn.acked[-1]} "
          f"(sent {first_seq}..{stop_seq})")


async def main(server, seconds_per_walk, interest_radius):
    tag = os.urandom(3).hex()
    names = (f"stranger-a-{tag}", f"stranger-b-{tag}")
    conns = []
    for who, name in zip("AB", names):
        joined = client.account_and_join(server, name, f"pw-{name}-long", who)
        left = joined["expires_at"] - time.time()
        check(290 <= left <= 301, f"{who}: the realtime token expires in {left:.0f} s (300 s, "
                                  "Unix seconds)")
        conn = client.Connection(who)
        await conn.open(joined["websocket_url"], joined["token"])
        conns.append(conn)
    a, b = conns

    print("== handshake")
    for conn, name in zip(conns, names):
        w = conn.welcome
        check(w["protocol_version"] == wire.PROTOCOL_VERSION,
              f"{conn.who}: Welcome of version {w['protocol_version']}")
        ok = await conn.wait_for(lambda c=conn: w["avatar_id"] in c.names, 3, "snapshot_event")
        check(ok and conn.names.get(w["avatar_id"]) == name,
              f"{conn.who}: Presence for its own avatar names it {conn.names.get(w['avatar_id'])!r}")
    check(a.welcome["avatar_id"] != b.welcome["avatar_id"], "two avatars")

    if interest_radius is not None:
        for conn in conns:
            check(conn.limits["interest_radius"] == interest_radius,
                  f"{conn.who}: the Welcome carries the configured interest radius "
                  f"{conn.limits['interest_radius']} m")

    print("== movement (A along x, B along y, at the same time)")
    ticks = int(seconds_per_walk * a.tick_rate)
    await asyncio.gather(walk_and_check(a, "x", 3.0, ticks), walk_and_check(b, "y", 3.0, ticks))

    if interest_radius is not None:
        # The whole world is in view (the script makes the world smaller than the radius):
        # each sees the other, named by a Presence, at the integers the other sees itself.
        print("== each in the other's view")
        for me, other in ((a, b), (b, a)):
            oid = other.welcome["avatar_id"]
            seen = [t for t in me.history if oid in me.history[t]]
            check(len(seen) >= ticks // 2, f"{me.who}: {other.who}'s avatar {oid} in "
                                      f"{len(seen)} of its snapshots")
            check(me.names.get(oid) == other.names.get(oid),
                  f"{me.who}: a Presence names {other.who}'s avatar {me.names.get(oid)!r}")
            common = [t for t in seen if t in other.history and oid in other.history[t]]
            same = [t for t in common if me.history[t][oid] == other.history[t][oid]]
            check(len(common) >= ticks // 2 and len(same) == len(common),
                  f"{me.who}: {other.who}'s avatar equal, field for field, to what {other.who} "
                  f"decoded of itself at {len(same)} of {len(common)} common ticks")
            track = [me.history[t][oid] for t in sorted(seen)]
            span = max(abs(track[-1][k] - track[0][k]) for k in ("x", "y"))
            check(span >= 64, f"{me.who}: saw {other.who} move {wire.metres(span):.2f} m")

    print("== chat")
    await a.send_chat("Zone", f"hello from {names[0]}")
    ok = await b.wait_for(lambda: any(c["from"] == a.welcome["avatar_id"] and
                                      c["text"] == f"hello from {names[0]}" for c in b.chats),
                          5, "chat_event")
    check(ok, "B heard A's Zone chat line, from A's avatar")
    await b.send_chat("Zone", "héllo back ✓")
    ok = await a.wait_for(lambda: any(c["from"] == b.welcome["avatar_id"] and
                                      c["text"] == "héllo back ✓" for c in a.chats),
                          5, "chat_event")
    check(ok, "A heard B's reply (non-ASCII UTF-8)")

    check(all(c["speaker_named"] for c in a.chats + b.chats),
          "every chat line's speaker was named by a Presence before the line arrived")

    print("== inventory (section 5.6: a client may only give up what it holds)")
    await a.send_inventory(1, "1", 1)
    await a.send_inventory(2, "1", -1)
    ok = await a.wait_for(lambda: len(a.inventory_results) >= 2, 5, "chat_event")
    got = {r["request"]: r for r in a.inventory_results}
    check(ok and got.get(1, {}).get("status") == "NotAllowed" and got[1]["item"] == "1",
          f"A: asking for an item is answered NotAllowed ({got.get(1)})")
    check(ok and got.get(2, {}).get("status") == "NotEnough" and got[2]["quantity"] == 0,
          f"A: giving up an item it does not hold is answered NotEnough, quantity 0 "
          f"({got.get(2)})")

    print("== leaving")
    for conn in conns:
        await conn.leave()
        if conn is a and interest_radius is not None:
            aid = a.welcome["avatar_id"]
            gone = await b.wait_for(lambda: b.newest_tick is not None and
                                    aid not in b.history[b.newest_tick], 5)
            check(gone, f"B: A's avatar {aid} left B's view after A left")
        check(conn.server_disconnect == "ClientQuit",
              f"{conn.who}: the server answered Disconnect {conn.server_disconnect}")
        check(conn.close_code == 1000 and conn.close_reason == "client_quit",
              f"{conn.who}: closed with {conn.close_code} {conn.close_reason!r}")

    print("== totals")
    for conn in conns:
        positions = [e for v in conn.views.values() for e in v] + [e for _, e in conn.own_track]
        client.log(conn.who, f"{conn.decoded} snapshots decoded, "
                             f"{len(conn.decode_errors)} decode errors, "
                             f"{conn.missing_baselines} missing baselines, {conn.stale} stale, "
                             f"{conn.keyframes} keyframes and {conn.deltas} deltas "
                             f"over ticks {conn.first_snapshot_tick}..{conn.newest_tick}, "
                             f"kinds seen {sorted(conn.kinds_seen)}, "
                             f"{len(conn.own_track)} with its own avatar, "
                             f"inputs sent {conn.sequence}, last acknowledged {conn.acked[-1]}")
        check(not conn.decode_errors, f"{conn.who}: zero decode errors {conn.decode_errors[:3]}")
        # Version 4 (section 11.10): the plaza's placed elements are in the snapshots,
        # each with a footprint whose centre is its position (the whole world is in view).
        elements = {e["id"]: e for v in conn.views.values() for e in v if e["kind"] == "Element"}
        check(elements and all(e.get("footprint") and e["footprint"]["width"] > 0
                               and e["footprint"]["height"] > 0 for e in elements.values()),
              f"{conn.who}: {len(elements)} placed elements in view, each with a footprint "
              f"({sum(e['footprint']['blocking'] for e in elements.values())} blocking)")
        check(conn.decoded >= seconds_per_walk * conn.tick_rate / 2,
              f"{conn.who}: decoded {conn.decoded} snapshots")
        check(conn.deltas > 0, f"{conn.who}: decoded {conn.deltas} deltas against its baselines")
        check(conn.first_snapshot_tick >= conn.welcome["tick"],
              f"{conn.who}: snapshot ticks count on from the Welcome's tick "
              f"({conn.welcome['tick']} -> {conn.first_snapshot_tick})")
        check(all(in_world(conn, e) for e in positions),
              f"{conn.who}: every decoded position lies within the world")
        check(all(math.isfinite(wire.radians(e["heading"])) for e in positions),
              f"{conn.who}: headings dequantize")
    if FAILURES:
        print(f"FAILED: {len(FAILURES)} checks")
        return 1
    print("PASSED: every check")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True, help="the HTTP base URL of meridian serve")
    parser.add_argument("--seconds", type=float, default=1.5, help="how long each walk lasts")
    parser.add_argument("--interest-radius", type=float,
                        help="the server's configured [sim] interest_radius, when it covers the "
                             "whole world: then also check that each client sees the other")
    args = parser.parse_args()
    sys.exit(asyncio.run(asyncio.wait_for(
        main(args.server, args.seconds, args.interest_radius), 120)))
