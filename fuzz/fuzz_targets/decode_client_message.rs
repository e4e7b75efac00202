//! Any bytes, on either channel, decode to a valid client message or a typed error;
//! a message that decodes encodes again and decodes to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use meridian_protocol::ClientMessage;
use meridian_protocol::messages::Channel;

fuzz_target!(|data: &[u8]| {
    for channel in [Channel::Datagram, Channel::Stream] {
        if let Ok(message) = ClientMessage::decode(data, channel) {
            assert_eq!(message.channel(), channel);
            assert_eq!(message.validate(), Ok(()));
            let again = message
                .to_bytes()
                .expect("a decoded message is valid, so it encodes");
            assert!(again.len() <= data.len(), "encoders write minimal varints");
            assert_eq!(ClientMessage::decode(&again, channel), Ok(message));
        }
    }
});
