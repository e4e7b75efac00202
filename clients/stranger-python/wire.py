"""The Meridian wire protocol (docs/PROTOCOL.md, version 4), written from the document alone.

Control messages are postcard (section 4); snapshot bodies are the bit stream of
section 11. Every decoder raises DecodeError with one of the names of section 13.
"""

import math
import struct

PROTOCOL_VERSION = 6

STREAM = 0  # the WebSocket channel byte of section 2.1
DATAGRAM = 1

MAX_DATAGRAM_PAYLOAD = 1150
MAX_STREAM_MESSAGE = 16384
MAX_AUTH_TOKEN_BYTES = 2048
MAX_CHAT_BYTES = 512
MAX_DETAIL_BYTES = 256
MAX_VISIBLE_ENTITIES = 1024
MAX_ITEM_BYTES = 64
MAX_NAME_BYTES = 64

CHAT_CHANNELS = ["Proximity", "Zone"]
DISCONNECT_REASONS = ["ClientQuit", "ServerShutdown", "IdleTimeout", "Kicked",
                      "ProtocolViolation", "RateLimited", "SessionReplaced", "Moved"]
REFUSAL_REASONS = ["VersionMismatch", "BadToken", "TokenExpired", "WrongSpace",
                   "Banned", "ServerFull", "TooManyConnections", "Draining"]
ANIMATIONS = ["Idle", "Walk", "Run", "Sit", "Wave", "Dance"]
INVENTORY_STATUSES = ["Applied", "UnknownItem", "NotEnough", "StackFull", "Busy",
                      "Unavailable", "NotAllowed"]
ENTITY_KINDS = ["Avatar", "Element", "Npc"]

# section 2: which channel each message kind travels on, by variant index
SERVER_CHANNEL = {0: STREAM, 1: STREAM, 2: DATAGRAM, 3: STREAM, 4: STREAM, 5: STREAM,
                  6: STREAM, 7: STREAM, 8: STREAM, 9: STREAM, 10: STREAM}
CLIENT_CHANNEL = {0: STREAM, 1: DATAGRAM, 2: DATAGRAM, 3: STREAM, 4: STREAM, 5: STREAM,
                  6: STREAM, 7: STREAM, 8: STREAM}
VOICE_REFUSAL_REASONS = ["NotInInstance", "MutedByModerator", "Banned", "MalformedSdp",
                         "VoiceDisabled", "TooManySessions", "UnsupportedOffer"]

# section 9: White_Space, listed explicitly
WHITESPACE = set([chr(c) for c in range(0x09, 0x0E)] + [
    "\u0020", "\u0085", "\u00a0", "\u1680"] + [chr(c) for c in range(0x2000, 0x200B)] + [
    "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"])


class DecodeError(Exception):
    """One of the error names of section 13."""

    def __init__(self, name, detail=""):
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name


def _is_control(ch):
    o = ord(ch)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def check_text(text, limit, allow_empty=False):
    """Section 9's string rules, in its order: length, then emptiness, then controls."""
    if len(text.encode("utf-8")) > limit:
        raise DecodeError("FieldTooLong")
    if not allow_empty and all(ch in WHITESPACE for ch in text):
        raise DecodeError("OutOfRange", "empty or only whitespace")
    if any(_is_control(ch) and ch != "\n" for ch in text):
        raise DecodeError("OutOfRange", "control character")


# ---------------------------------------------------------------- postcard writer

def varint(value):
    """Unsigned LEB128, shortest form (section 4.2)."""
    if value < 0:
        raise ValueError("varint of a negative value")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def f32(value):
    return struct.pack("<f", value)


def string(text):
    raw = text.encode("utf-8")
    return varint(len(raw)) + raw


def encode_hello(auth_token, version=PROTOCOL_VERSION):
    check_text(auth_token, MAX_AUTH_TOKEN_BYTES, allow_empty=True)
    return b"\x00" + varint(version) + string(auth_token)


def encode_input(sequence, move_x, move_y, speed, heading, animation="Idle"):
    for v in (move_x, move_y, speed, heading):
        if not math.isfinite(v):
            raise ValueError("Input floats must be finite (section 5.2)")
    return (b"\x01" + varint(sequence) + f32(move_x) + f32(move_y) + f32(speed) + f32(heading)
            + varint(ANIMATIONS.index(animation)))


def encode_ack(snapshot_tick):
    return b"\x02" + varint(snapshot_tick)


def encode_chat(channel, text):
    check_text(text, MAX_CHAT_BYTES)
    return b"\x03" + varint(CHAT_CHANNELS.index(channel)) + string(text)


def encode_disconnect(reason="ClientQuit"):
    return b"\x04" + varint(DISCONNECT_REASONS.index(reason))


def encode_inventory(request, item, delta):
    check_text(item, MAX_ITEM_BYTES)
    if delta == 0 or not -1000 <= delta <= 1000:
        raise ValueError("delta must be non-zero, -1000..=1000")
    zigzag = 2 * delta if delta >= 0 else -2 * delta - 1
    return b"\x05" + varint(request) + string(item) + varint(zigzag)


# ---------------------------------------------------------------- postcard reader

class Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            raise DecodeError("UnexpectedEnd")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, max_bytes, last_max):
        """A varint of at most max_bytes bytes; the last allowed byte at most last_max."""
        value = 0
        for index in range(max_bytes):
            b = self.byte()
            if index == max_bytes - 1:
                if b & 0x80:
                    raise DecodeError("BadVarint", "too long")
                if b > last_max:
                    raise DecodeError("BadVarint", "overflows its type")
            value |= (b & 0x7F) << (7 * index)
            if not b & 0x80:
                return value
        raise AssertionError("unreachable")

    def u16(self):
        return self.varint(3, 0x03)

    def u32(self):
        return self.varint(5, 0x0F)

    def usize(self):
        return self.varint(10, 0x01)

    def f32(self):
        if self.pos + 4 > len(self.data):
            raise DecodeError("UnexpectedEnd")
        (v,) = struct.unpack_from("<f", self.data, self.pos)
        self.pos += 4
        return v

    def bytes_(self):
        n = self.usize()
        if n > len(self.data) - self.pos:
            raise DecodeError("UnexpectedEnd")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw

    def string(self):
        raw = self.bytes_()
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise DecodeError("BadUtf8") from None

    def option_u32(self):
        tag = self.byte()
        if tag == 0:
            return None
        if tag == 1:
            return self.u32()
        raise DecodeError("BadTag")

    def enum(self, names):
        index = self.u32()
        if index >= len(names):
            raise DecodeError("UnknownVariant", f"{index}")
        return names[index]


LIMIT_FLOATS = ["max_speed", "walk_speed", "avatar_radius", "interest_radius",
                "interest_hysteresis", "chat_hearing_radius"]
LIMIT_COUNTS = ["input_burst", "input_hold_ticks", "datagrams_per_second",
                "chat_lines_per_10s", "inventory_in_flight", "strikes_before_disconnect",
                "idle_timeout_ms", "heartbeat_interval_ms"]


def _limits(r):
    limits = {}
    for name in LIMIT_FLOATS:
        limits[name] = r.f32()
    for name in LIMIT_COUNTS:
        limits[name] = r.u32()
    return limits


def _check_limits(limits):
    for name in LIMIT_FLOATS:
        v = limits[name]
        if not math.isfinite(v) or v < 0:
            raise DecodeError("OutOfRange", name)


def decode_server(data, channel):
    """Decode one server message that arrived on `channel`; section 9's order."""
    limit = MAX_DATAGRAM_PAYLOAD if channel == DATAGRAM else MAX_STREAM_MESSAGE
    if len(data) > limit:
        raise DecodeError("TooLarge")
    r = Reader(data)
    kind = r.u32()
    if kind == 0:
        msg = {"type": "Welcome", "protocol_version": r.u16(), "avatar_id": r.u32(),
               "zone_id": r.u32(), "tick_rate_hz": r.u16(), "tick": r.u32(),
               "zone_width": r.f32(), "zone_height": r.f32(), "limits": _limits(r)}
    elif kind == 1:
        msg = {"type": "Refusal", "reason": r.enum(REFUSAL_REASONS), "detail": r.string()}
    elif kind == 2:
        msg = {"type": "Snapshot", "tick": r.u32(), "baseline_tick": r.option_u32(),
               "last_input_sequence": r.u32(), "body": r.bytes_()}
    elif kind == 3:
        msg = {"type": "Chat", "from": r.u32(), "channel": r.enum(CHAT_CHANNELS),
               "text": r.string()}
    elif kind == 4:
        msg = {"type": "Disconnect", "reason": r.enum(DISCONNECT_REASONS)}
    elif kind == 5:
        msg = {"type": "Inventory", "request": r.u32(), "item": r.string(),
               "quantity": r.u32(), "status": r.enum(INVENTORY_STATUSES)}
    elif kind == 6:
        msg = {"type": "Presence", "avatar": r.u32(), "name": r.string()}
    elif kind == 7:
        msg = {"type": "SettingsChanged", "tick": r.u32(), "tick_rate_hz": r.u16(),
               "limits": _limits(r)}
    elif kind == 8:  # section 6.9; this client has no voice, it only reads past it
        msg = {"type": "VoiceAnswer", "sdp": r.string()}
    elif kind == 9:  # section 6.10
        lines = []
        for _ in range(r.u32()):
            lines.append({"slot": r.string(), "speaker": r.option_u32(), "distance": r.f32()})
        msg = {"type": "VoiceLines", "lines": lines}
    elif kind == 10:  # section 6.11
        msg = {"type": "VoiceRefused", "reason": r.enum(VOICE_REFUSAL_REASONS),
               "detail": r.string()}
    else:
        raise DecodeError("UnknownVariant", f"server message {kind}")
    if r.pos != len(r.data):
        raise DecodeError("TrailingBytes")
    if SERVER_CHANNEL[kind] != channel:
        raise DecodeError("WrongChannel")
    t = msg["type"]
    if t == "Welcome":
        for name in ("zone_width", "zone_height"):
            if not math.isfinite(msg[name]):
                raise DecodeError("OutOfRange", name)
        _check_limits(msg["limits"])
    elif t == "SettingsChanged":
        if msg["tick_rate_hz"] == 0:
            raise DecodeError("OutOfRange", "tick_rate_hz")
        _check_limits(msg["limits"])
    elif t in ("Refusal", "VoiceRefused"):
        check_text(msg["detail"], MAX_DETAIL_BYTES, allow_empty=True)
    elif t == "VoiceLines":
        slots = [line["slot"] for line in msg["lines"]]
        if len(slots) > 16:
            raise DecodeError("FieldTooLong", "lines")
        if not slots or len(set(slots)) != len(slots):
            raise DecodeError("OutOfRange", "lines")
        for line in msg["lines"]:
            check_text(line["slot"], 32)
            if not math.isfinite(line["distance"]) or line["distance"] < 0:
                raise DecodeError("OutOfRange", "distance")
    elif t == "Chat":
        check_text(msg["text"], MAX_CHAT_BYTES)
    elif t == "Inventory":
        check_text(msg["item"], MAX_ITEM_BYTES)
    elif t == "Presence":
        check_text(msg["name"], MAX_NAME_BYTES)
    return msg


# ---------------------------------------------------------------- snapshot body (section 11)

class BitReader:
    def __init__(self, data):
        self.data = bytes(data)
        self.total = len(self.data) * 8
        self.pos = 0

    def left(self):
        return self.total - self.pos

    def bits(self, n):
        if self.pos + n > self.total:
            raise DecodeError("UnexpectedEnd")
        value = 0
        for k in range(n):
            i = self.pos + k
            value |= ((self.data[i >> 3] >> (i & 7)) & 1) << k
        self.pos += n
        return value

    def varuint(self):
        value = 0
        for group in range(8):
            value |= self.bits(4) << (4 * group)
            more = self.bits(1)
            if not more:
                return value
            if group == 7:
                raise DecodeError("BadVarint", "varuint of more than 8 groups")
        raise AssertionError("unreachable")


POSITION_MAX = (1 << 20) - 1


def _animation(value):
    if value >= len(ANIMATIONS):
        raise DecodeError("UnknownVariant", f"animation {value}")
    return ANIMATIONS[value]


def decode_body(body, baseline):
    """Decode a snapshot body against `baseline` (a list of entity dicts sorted by id,
    or None for a keyframe). Returns the new view, sorted by id (section 11.6)."""
    if len(body) > MAX_DATAGRAM_PAYLOAD:
        raise DecodeError("TooLarge")
    r = BitReader(body)
    kept = []
    for old in baseline or []:
        if not r.bits(1):
            kept.append(old)
            continue
        if not r.bits(1):
            continue  # left the view
        e = dict(old)
        if r.bits(1):  # position changed
            if r.bits(1):  # tiny
                dx, dy = r.bits(5), r.bits(5)
                x, y = e["x"] + dx - 16, e["y"] + dy - 16
            elif r.bits(1):  # small
                dx, dy = r.bits(8), r.bits(8)
                x, y = e["x"] + dx - 128, e["y"] + dy - 128
            else:
                x, y = r.bits(20), r.bits(20)
            if not (0 <= x <= POSITION_MAX and 0 <= y <= POSITION_MAX):
                raise DecodeError("OutOfRange", "position delta leaves the range")
            e["x"], e["y"] = x, y
        if r.bits(1):
            e["heading"] = r.bits(10)
        if r.bits(1):
            e["animation"] = _animation(r.bits(3))
        if r.bits(1):
            e["appearance"] = r.varuint()
        kept.append(e)
    count = r.varuint()
    if len(kept) + count > MAX_VISIBLE_ENTITIES:
        raise DecodeError("TooManyEntities")
    if r.left() < count * 65:
        raise DecodeError("UnexpectedEnd")
    kept_ids = {e["id"] for e in kept}
    entered = []
    next_id = 0
    for _ in range(count):
        entity_id = next_id + r.varuint()
        if entity_id > 0xFFFFFFFF:
            raise DecodeError("IdOverflow")
        kind = r.bits(2)
        if kind >= len(ENTITY_KINDS):
            raise DecodeError("UnknownVariant", f"kind {kind}")
        appearance = r.varuint()
        x, y = r.bits(20), r.bits(20)
        heading = r.bits(10)
        animation = _animation(r.bits(3))
        e = {"id": entity_id, "kind": ENTITY_KINDS[kind], "appearance": appearance,
             "x": x, "y": y, "heading": heading, "animation": animation}
        if e["kind"] == "Element":  # version 4: the footprint (section 11.4)
            width, height = r.varuint(), r.varuint()
            if width > POSITION_MAX or height > POSITION_MAX:
                raise DecodeError("OutOfRange", "footprint")
            e["footprint"] = {"width": width, "height": height, "blocking": r.bits(1) == 1}
        if entity_id in kept_ids:
            raise DecodeError("DuplicateEntity", f"{entity_id}")
        entered.append(e)
        next_id = entity_id + 1
    left = r.left()
    if left >= 8:
        raise DecodeError("TrailingBytes")
    if left and r.bits(left) != 0:
        raise DecodeError("NonZeroPadding")
    return sorted(kept + entered, key=lambda e: e["id"])


def metres(steps):
    """Dequantize a position (section 11.2)."""
    return steps / 64.0


def radians(heading_step):
    return heading_step * 2.0 * math.pi / 1024.0
