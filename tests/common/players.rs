//! Players over real QUIC that a test steers: each runs its connection on a
//! task of its own, says what it is told, and reports what it hears.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::NetworkId;
use meridian_protocol::messages::{ChatChannel, ChatSend, DisconnectReason};
use meridian_protocol::snapshot::EntityState;
use tokio::sync::mpsc;

use super::Joined;

/// How long a player waits for what a test expects.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// One connected player.
pub(crate) struct Player {
    pub(crate) name: String,
    say: mpsc::UnboundedSender<ChatSend>,
    heard: mpsc::UnboundedReceiver<ClientEvent>,
    /// Everything but snapshots, in order.
    pub(crate) events: Vec<ClientEvent>,
    /// The entities in the latest snapshot's view.
    view: Arc<Mutex<Vec<EntityState>>>,
    task: tokio::task::JoinHandle<Ending>,
}

struct Steered {
    say: mpsc::UnboundedReceiver<ChatSend>,
    heard: mpsc::UnboundedSender<ClientEvent>,
    view: Arc<Mutex<Vec<EntityState>>>,
}

impl Behaviour for Steered {
    fn on_tick(&mut self, client: &mut Client, _now: Instant) {
        while let Ok(line) = self.say.try_recv() {
            client.send_chat(line);
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _now: Instant) {
        if matches!(event, ClientEvent::Snapshot { .. }) {
            if let Ok(mut view) = self.view.lock() {
                *view = client.view().to_vec();
            }
        } else {
            let _ = self.heard.send(event);
        }
    }
}

impl Player {
    /// Connects with a join answer and waits until it is welcomed (panics
    /// after [`PATIENCE`] or on a refusal).
    pub(crate) async fn connect(name: &str, joined: &Joined) -> Self {
        let mut player = Self::start(name, joined).await;
        let welcomed = player
            .wait_for(|event| matches!(event, ClientEvent::Welcomed(_)))
            .await;
        assert!(welcomed, "{name} is welcomed: {:?}", player.events);
        player
    }

    /// Connects without waiting for anything.
    pub(crate) async fn start(name: &str, joined: &Joined) -> Self {
        let (endpoint, connection, mut client) = joined.connect().await;
        let (say, say_receiver) = mpsc::unbounded_channel();
        let (heard_sender, heard) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(Vec::new()));
        let shared_view = view.clone();
        let task = tokio::spawn(async move {
            let _endpoint = endpoint;
            let mut steered = Steered {
                say: say_receiver,
                heard: heard_sender,
                view: shared_view,
            };
            connection
                .drive(
                    &mut client,
                    &mut steered,
                    Duration::from_millis(20),
                    Instant::now() + Duration::from_secs(120),
                )
                .await
        });
        Self {
            name: name.to_owned(),
            say,
            heard,
            events: Vec::new(),
            view,
            task,
        }
    }

    /// Its own avatar's id (once welcomed).
    pub(crate) fn avatar(&self) -> Option<NetworkId> {
        self.events.iter().find_map(|event| match event {
            ClientEvent::Welcomed(welcome) => Some(welcome.avatar_id),
            _ => None,
        })
    }

    /// The welcome, once welcomed.
    pub(crate) fn welcome(&self) -> Option<&meridian_protocol::messages::Welcome> {
        self.events.iter().find_map(|event| match event {
            ClientEvent::Welcomed(welcome) => Some(welcome),
            _ => None,
        })
    }

    /// Waits until the latest snapshot's view holds `entity` (`false` after
    /// [`PATIENCE`]).
    pub(crate) async fn sees(&self, entity: NetworkId) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::time::Instant::now() < deadline {
            if self
                .view
                .lock()
                .is_ok_and(|view| view.iter().any(|seen| seen.id == entity))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The entities in the latest snapshot's view.
    pub(crate) fn view(&self) -> Vec<EntityState> {
        self.view
            .lock()
            .map(|view| view.clone())
            .unwrap_or_default()
    }

    /// Says `text` on `channel` (at the player's next tick).
    pub(crate) fn say(&self, channel: ChatChannel, text: &str) {
        let _ = self.say.send(ChatSend {
            channel,
            text: text.to_owned(),
        });
    }

    /// Collects events until one matches (`true`) or [`PATIENCE`] passes or
    /// the connection ends (`false`).
    pub(crate) async fn wait_for(&mut self, matches: impl Fn(&ClientEvent) -> bool) -> bool {
        if self.events.iter().any(&matches) {
            return true;
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.heard.recv()).await {
                Ok(Some(event)) => {
                    let found = matches(&event);
                    self.events.push(event);
                    if found {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// Waits until the player hears a line with this text.
    pub(crate) async fn hears(&mut self, text: &str) -> bool {
        self.wait_for(|event| matches!(event, ClientEvent::Chat(relay) if relay.text == text))
            .await
    }

    /// Has a line with this text arrived so far?
    pub(crate) fn has_heard(&self, text: &str) -> bool {
        self.events
            .iter()
            .any(|event| matches!(event, ClientEvent::Chat(relay) if relay.text == text))
    }

    /// Waits until the server ends the connection; its reason.
    pub(crate) async fn disconnected(&mut self) -> Option<DisconnectReason> {
        self.wait_for(|event| matches!(event, ClientEvent::Disconnected(_)))
            .await;
        self.events.iter().find_map(|event| match event {
            ClientEvent::Disconnected(reason) => Some(*reason),
            _ => None,
        })
    }

    /// Ends the connection's task.
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}
