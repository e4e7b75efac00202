"""The codec against the byte examples printed in docs/PROTOCOL.md (not the vectors file:
this client was written from the document alone). Run: python3 -m unittest test_doc_examples
"""

import math
import unittest

import wire


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


class ClientMessages(unittest.TestCase):
    def test_hello(self):  # section 5.1
        self.assertEqual(wire.encode_hello(""), h("00 06 00"))
        self.assertEqual(wire.encode_hello("t", version=300), h("00 ac 02 01 74"))

    def test_input_walk(self):  # section 5.2, vector client_input_walk
        self.assertEqual(wire.encode_input(1, 0.75, -0.5, 1.5, 3.0, "Walk"),
                         h("01 01 0000403f 000000bf 0000c03f 00004040 01"))

    def test_ack(self):  # section 5.3
        self.assertEqual(wire.encode_ack(5), h("02 05"))
        self.assertEqual(wire.encode_ack(128), h("02 80 01"))
        self.assertEqual(wire.encode_ack(4294967295), h("02 ff ff ff ff 0f"))

    def test_chat_and_disconnect(self):  # sections 5.4, 5.5
        self.assertEqual(wire.encode_chat("Proximity", "hello"), h("03 00 05 68656c6c6f"))
        self.assertEqual(wire.encode_disconnect(), h("04 00"))

    def test_inventory(self):  # section 5.6
        self.assertEqual(wire.encode_inventory(7, "chair", -2), h("05 07 05 6368616972 03"))
        self.assertEqual(wire.encode_inventory(300, "lamp-02", 1000),
                         h("05 ac02 07 6c616d702d3032 d00f"))

    def test_varints(self):  # section 4.2
        for value, text in [(0, "00"), (5, "05"), (127, "7f"), (128, "80 01"), (300, "ac 02"),
                            (16384, "80 80 01"), (65535, "ff ff 03"),
                            (4294967295, "ff ff ff ff 0f")]:
            self.assertEqual(wire.varint(value), h(text))


LIMITS = "0000c040 00000040 9a99993e 0000f041 0000a040 0000a041 04 05 78 0a 08 3c 904e e807"


class ServerMessages(unittest.TestCase):
    def test_welcome(self):  # section 6.1
        m = wire.decode_server(h("00 06 2a 07 1e c0c407 00008044 00200044 " + LIMITS), wire.STREAM)
        self.assertEqual((m["protocol_version"], m["avatar_id"], m["zone_id"], m["tick_rate_hz"],
                          m["tick"], m["zone_width"], m["zone_height"]),
                         (6, 42, 7, 30, 123456, 1024.0, 512.5))
        lim = m["limits"]
        self.assertEqual(lim["max_speed"], 6.0)
        self.assertAlmostEqual(lim["avatar_radius"], 0.3, places=6)
        self.assertEqual([lim[k] for k in wire.LIMIT_COUNTS], [4, 5, 120, 10, 8, 60, 10000, 1000])

    def test_welcome_on_datagram_is_wrong_channel(self):
        with self.assertRaises(wire.DecodeError) as e:
            wire.decode_server(h("00 04 2a 07 1e c0c407 00008044 00200044 " + LIMITS),
                               wire.DATAGRAM)
        self.assertEqual(e.exception.name, "WrongChannel")

    def test_refusal_snapshot_chat_presence(self):  # sections 6.2 to 6.7
        self.assertEqual(wire.decode_server(h("01 01 00"), wire.STREAM)["reason"], "BadToken")
        s = wire.decode_server(h("02 66 01 64 11 04 cf5b6400"), wire.DATAGRAM)
        self.assertEqual((s["tick"], s["baseline_tick"], s["last_input_sequence"], s["body"]),
                         (102, 100, 17, h("cf5b6400")))
        c = wire.decode_server(h("03 2a 00 02 6869"), wire.STREAM)
        self.assertEqual((c["from"], c["channel"], c["text"]), (42, "Proximity", "hi"))
        p = wire.decode_server(h("06 ac02 0c 416461204c6f76656c616365"), wire.STREAM)
        self.assertEqual((p["avatar"], p["name"]), (300, "Ada Lovelace"))
        i = wire.decode_server(h("05 ac02 07 6c616d702d3032 00 02"), wire.STREAM)
        self.assertEqual((i["request"], i["item"], i["quantity"], i["status"]),
                         (300, "lamp-02", 0, "NotEnough"))

    def test_settings_changed(self):  # section 6.8
        lim = "0000c040 00000040 9a99993e 00004841 00000040 0000a041 04 05 78 0a 08 3c 904e e807"
        m = wire.decode_server(h("07 8827 0a " + lim), wire.STREAM)
        self.assertEqual((m["tick"], m["tick_rate_hz"], m["limits"]["interest_radius"]),
                         (5000, 10, 12.5))

    def test_voice_messages_are_read_past(self):  # sections 6.9 to 6.11
        m = wire.decode_server(h("09 02 01 31 01 2a 0000f040 01 32 00 00000000"), wire.STREAM)
        self.assertEqual(m["lines"], [{"slot": "1", "speaker": 42, "distance": 7.5},
                                      {"slot": "2", "speaker": None, "distance": 0.0}])
        m = wire.decode_server(h("0a 01 05 6d75746564"), wire.STREAM)
        self.assertEqual((m["reason"], m["detail"]), ("MutedByModerator", "muted"))
        m = wire.decode_server(h("08 05 763d300d0a"), wire.STREAM)
        self.assertEqual(m["sdp"], "v=0\r\n")

    def test_errors_in_order(self):  # section 9, the order_ examples
        for hex_, channel, name in [("04 09 00", wire.STREAM, "UnknownVariant"),
                                    ("03 2a 00 02 6869 00", wire.STREAM, "TrailingBytes"),
                                    ("02 66", wire.DATAGRAM, "UnexpectedEnd")]:
            with self.assertRaises(wire.DecodeError) as e:
                wire.decode_server(h(hex_), channel)
            self.assertEqual(e.exception.name, name, hex_)


KEYFRAME_VIEW = [{"id": 7, "kind": "Avatar", "appearance": 3, "x": 1000, "y": 1000,
                  "heading": 100, "animation": "Walk"}]


class SnapshotBodies(unittest.TestCase):
    def test_keyframe_one_avatar(self):  # section 11.8
        self.assertEqual(wire.decode_body(h("e1 30 d0 07 00 7d 00 c8 08"), None), KEYFRAME_VIEW)

    def test_keyframe_one_element(self):  # section 11.10 (version 4)
        view = wire.decode_body(h("81 c5 65 00 00 08 00 04 00 00 10 41 12"), None)
        self.assertEqual(view, [{"id": 12, "kind": "Element", "appearance": 300, "x": 65536,
                                 "y": 2048, "heading": 0, "animation": "Idle",
                                 "footprint": {"width": 128, "height": 64, "blocking": True}}])
        # cut before its footprint: UnexpectedEnd
        with self.assertRaises(wire.DecodeError) as e:
            wire.decode_body(h("81 c5 65 00 00 08 00 04 00"), None)
        self.assertEqual(e.exception.name, "UnexpectedEnd")

    def test_delta_walking_avatar(self):  # section 11.9
        view = wire.decode_body(h("cf 5b 64 00"), KEYFRAME_VIEW)
        self.assertEqual(view, [dict(KEYFRAME_VIEW[0], x=1012, y=997, heading=200)])

    def test_unchanged_and_errors(self):
        # one unchanged entity (bit 0 = 0) and an entered count of 0: 6 bits, padded
        self.assertEqual(wire.decode_body(h("00"), KEYFRAME_VIEW), KEYFRAME_VIEW)
        with self.assertRaises(wire.DecodeError) as e:
            wire.decode_body(h("00 00"), KEYFRAME_VIEW)
        self.assertEqual(e.exception.name, "TrailingBytes")
        with self.assertRaises(wire.DecodeError) as e:
            wire.decode_body(h("80"), KEYFRAME_VIEW)
        self.assertEqual(e.exception.name, "NonZeroPadding")

    def test_dequantize(self):
        self.assertEqual(wire.metres(1000), 15.625)
        self.assertAlmostEqual(wire.radians(256), math.pi / 2)


if __name__ == "__main__":
    unittest.main()
