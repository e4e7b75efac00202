"""A Meridian client over the WebSocket fallback (docs/PROTOCOL.md section 2.1), with the
account calls of docs/openapi.json. Standard library plus `websockets` (requirements.txt).
"""

import asyncio
import json
import time
import urllib.error
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import wire

RING = 32  # section 12, step 6: baselines the server may still name


def log(who, text):
    print(f"{time.monotonic():10.3f} [{who}] {text}", flush=True)


class HttpError(Exception):
    pass


def http_json(method, url, body=None, token=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise HttpError(f"{method} {url}: {e.code} {e.read()[:200]!r}") from None


def account_and_join(server, username, password, who):
    """Sign up, log in, find the hosted space and join it; returns the join answer."""
    api = server.rstrip("/") + "/api/v1"
    signup = http_json("POST", f"{api}/signup", {"username": username, "password": password})
    log(who, f"signed up {username!r}: userId {signup['userId']}")
    session = http_json("POST", f"{api}/login", {"username": username, "password": password})
    log(who, f"logged in: access token for {session['expires_in']} s")
    spaces = http_json("GET", f"{api}/space/all", token=session["token"])["spaces"]
    hosted = [s for s in spaces if s["hosted"]]
    if not hosted:
        raise HttpError("no hosted space in GET /api/v1/space/all")
    space = hosted[0]
    joined = http_json("POST", f"{api}/space/{space['id']}/join", token=session["token"])
    log(who, f"joined space {space['id']} ({space['name']!r}): websocket_url "
             f"{joined['websocket_url']}, token expires at {joined['expires_at']}")
    return joined


class Connection:
    """One connection: the handshake, snapshots with baselines and acks, inputs, chat."""

    def __init__(self, who):
        self.who = who
        self.ws = None
        self.welcome = None
        self.limits = None
        self.tick_rate = None
        self.names = {}
        self.views = {}  # tick -> decoded view (list of entity dicts)
        self.newest_tick = None
        self.decoded = 0
        self.decode_errors = []
        self.missing_baselines = 0
        self.stale = 0
        self.keyframes = 0
        self.deltas = 0
        self.first_snapshot_tick = None
        self.kinds_seen = set()
        self.history = {}  # tick -> {id: entity}: every decoded view, for the checks
        self.acked = []  # last_input_sequence of every decoded snapshot, in order
        self.own_track = []  # (tick, entity) of our avatar in each decoded snapshot
        self.chats = []
        self.inventory_results = []
        self.presences = []
        self.settings_changes = []
        self.server_disconnect = None
        self.close_code = None
        self.close_reason = None
        self.sequence = 0
        self.last_datagram = 0.0
        self.welcomed = asyncio.Event()
        self.closed = asyncio.Event()
        self.snapshot_event = asyncio.Event()
        self.chat_event = asyncio.Event()
        self._tasks = []

    # ------------------------------------------------------------ sending

    async def _send(self, channel, message):
        await self.ws.send(bytes([channel]) + message)
        if channel == wire.DATAGRAM:
            self.last_datagram = time.monotonic()

    async def send_input(self, move_x, move_y, speed, heading=0.0, animation="Idle"):
        self.sequence += 1
        await self._send(wire.DATAGRAM, wire.encode_input(self.sequence, move_x, move_y, speed,
                                                          heading, animation))
        return self.sequence

    async def send_inventory(self, request, item, delta):
        await self._send(wire.STREAM, wire.encode_inventory(request, item, delta))

    async def send_chat(self, channel, text):
        await self._send(wire.STREAM, wire.encode_chat(channel, text))

    # ------------------------------------------------------------ the connection

    async def open(self, websocket_url, token, timeout=10):
        # Section 2.1: binary messages, channel byte first; the largest message is a
        # stream message of 16,384 bytes plus the channel byte.
        self.ws = await asyncio.wait_for(
            connect(websocket_url, max_size=wire.MAX_STREAM_MESSAGE + 1, compression=None),
            timeout)
        await self._send(wire.STREAM, wire.encode_hello(token))
        self._tasks.append(asyncio.create_task(self._receive()))
        await asyncio.wait_for(self.welcomed.wait(), timeout)
        if self.welcome is None:
            raise RuntimeError(f"no Welcome: {self.server_disconnect or self.close_reason}")
        self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def _heartbeat(self):
        # Section 12, step 7: a datagram at least every heartbeat_interval_ms.
        while not self.closed.is_set():
            interval = self.limits["heartbeat_interval_ms"] / 1000.0
            await asyncio.sleep(interval / 4)
            if time.monotonic() - self.last_datagram >= interval / 2 and self.newest_tick is not None:
                try:
                    await self._send(wire.DATAGRAM, wire.encode_ack(self.newest_tick))
                except ConnectionClosed:
                    return

    async def _receive(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    self.decode_errors.append("a text WebSocket message")
                    continue
                if len(raw) < 1 or raw[0] not in (wire.STREAM, wire.DATAGRAM):
                    self.decode_errors.append(f"bad channel byte in {raw[:1].hex()}")
                    continue
                try:
                    msg = wire.decode_server(raw[1:], raw[0])
                except wire.DecodeError as e:
                    self.decode_errors.append(f"message {raw[:24].hex()}: {e}")
                    log(self.who, f"DECODE ERROR {e}")
                    continue
                await self._handle(msg)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            self.welcomed.set()

    async def _handle(self, msg):
        t = msg["type"]
        if t == "Welcome":
            if self.welcome is not None:
                self.decode_errors.append("a second Welcome")
            self.welcome = msg
            self.limits = msg["limits"]
            self.tick_rate = msg["tick_rate_hz"]
            log(self.who, f"Welcome: version {msg['protocol_version']}, avatar {msg['avatar_id']},"
                          f" zone {msg['zone_id']}, {msg['tick_rate_hz']} Hz, tick {msg['tick']},"
                          f" world {msg['zone_width']} x {msg['zone_height']} m,"
                          f" max_speed {msg['limits']['max_speed']} m/s")
            self.welcomed.set()
        elif t == "Refusal":
            log(self.who, f"Refusal: {msg['reason']} {msg['detail']!r}")
            self.server_disconnect = f"Refusal {msg['reason']}"
        elif t == "Snapshot":
            if self.welcome is None:
                self.decode_errors.append("a Snapshot before the Welcome")
                return
            await self._snapshot(msg)
        elif t == "Chat":
            name = self.names.get(msg["from"], "?")
            log(self.who, f"Chat from avatar {msg['from']} ({name}) on {msg['channel']}: "
                          f"{msg['text']!r}")
            msg["speaker_named"] = msg["from"] in self.names  # a Presence came first
            self.chats.append(msg)
            self.chat_event.set()
        elif t == "Presence":
            self.names[msg["avatar"]] = msg["name"]
            self.presences.append(msg)
            log(self.who, f"Presence: avatar {msg['avatar']} is {msg['name']!r}")
        elif t == "SettingsChanged":
            self.settings_changes.append(msg)
            self.limits = msg["limits"]
            self.tick_rate = msg["tick_rate_hz"]
            log(self.who, f"SettingsChanged from tick {msg['tick']}: {msg['tick_rate_hz']} Hz")
        elif t == "Disconnect":
            self.server_disconnect = msg["reason"]
            log(self.who, f"Disconnect from the server: {msg['reason']}")
        elif t == "Inventory":
            log(self.who, f"Inventory result for request {msg['request']}: {msg['item']!r} "
                          f"x{msg['quantity']}, {msg['status']}")
            self.inventory_results.append(msg)
            self.chat_event.set()

    async def _snapshot(self, msg):
        tick = msg["tick"]
        if self.newest_tick is not None and tick <= self.newest_tick:
            self.stale += 1  # section 12, step 5
            return
        baseline = None
        if msg["baseline_tick"] is not None:
            baseline = self.views.get(msg["baseline_tick"])
            if baseline is None:
                self.missing_baselines += 1  # MissingBaseline: drop it
                return
        try:
            view = wire.decode_body(msg["body"], baseline)
        except wire.DecodeError as e:
            self.decode_errors.append(f"snapshot {tick}: {e}")
            log(self.who, f"DECODE ERROR in snapshot {tick}: {e}")
            return
        self.views[tick] = view
        self.newest_tick = tick
        self.decoded += 1
        if msg["baseline_tick"] is None:
            self.keyframes += 1
        else:
            self.deltas += 1
        if self.first_snapshot_tick is None:
            self.first_snapshot_tick = tick
            log(self.who, f"first snapshot: tick {tick}, {len(view)} entities in view, "
                          f"{'keyframe' if baseline is None else 'delta'}")
        self.kinds_seen.update(e["kind"] for e in view)
        self.history[tick] = {e["id"]: e for e in view}
        # Section 12, step 6: views older than the newest baseline named are not needed.
        floor = msg["baseline_tick"] if msg["baseline_tick"] is not None else tick
        for old in [t for t in self.views if t < floor or t <= tick - RING]:
            del self.views[old]
        self.acked.append(msg["last_input_sequence"])
        own = next((e for e in view if e["id"] == self.welcome["avatar_id"]), None)
        if own is not None:
            self.own_track.append((tick, own))
        self.snapshot_event.set()
        try:
            await self._send(wire.DATAGRAM, wire.encode_ack(tick))
        except ConnectionClosed:
            pass

    # ------------------------------------------------------------ reading the state

    def own(self):
        return self.own_track[-1][1] if self.own_track else None

    async def wait_for(self, predicate, timeout, event_name="snapshot_event"):
        deadline = time.monotonic() + timeout
        event = getattr(self, event_name)
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed.is_set():
                return predicate()
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), left)
            except asyncio.TimeoutError:
                pass
        return True

    async def move(self, move_x, move_y, speed, ticks):
        """One Input per tick (section 5.2) for `ticks` ticks, paced by the tick rate."""
        period = 1.0 / self.tick_rate
        start = time.monotonic()
        for i in range(ticks):
            await self.send_input(move_x, move_y, speed)
            await asyncio.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
        return self.sequence

    async def leave(self, timeout=5):
        """Section 2.2: Disconnect { ClientQuit }, then the server answers and closes."""
        await self._send(wire.STREAM, wire.encode_disconnect("ClientQuit"))
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            log(self.who, "the server did not close within the timeout; closing")
        await self.ws.close()
        for task in self._tasks:
            task.cancel()
        log(self.who, f"closed: server said {self.server_disconnect}, close code "
                      f"{self.close_code} {self.close_reason!r}")
