//! Inventory changes: a client may only give up what it holds; each change
//! goes to the database (at most a few in flight per client) and its answer
//! comes back to the client.

use meridian_protocol::messages::{
    InventoryChange, InventoryResult, InventoryStatus, ServerMessage,
};

use super::{MAX_INVENTORY_IN_FLIGHT, ZoneHost};
use crate::host::borders::Borders;
use crate::host::members::InventoryRequest;
use meridian_netcode::server::ConnectionId;

impl<B: Borders> ZoneHost<B> {
    /// Inventory changes answered `Busy` here (past the in-flight limit) since
    /// the start.
    pub fn inventory_busy(&self) -> u64 {
        self.inventory_busy
    }

    /// The inventory changes asked for since the last call, for the database.
    pub fn take_inventory_requests(&mut self) -> Vec<InventoryRequest> {
        std::mem::take(&mut self.inventory_requests)
    }

    /// Answers an inventory change: the database committed it (or refused it,
    /// or could not take it). A client that left meanwhile is not told.
    pub fn finish_inventory(&mut self, connection: ConnectionId, result: InventoryResult) {
        let Some(in_flight) = self.members.inventory_in_flight_mut(connection) else {
            return;
        };
        *in_flight = in_flight.saturating_sub(1);
        // The member is admitted, so this cannot fail.
        let _ = self
            .server
            .send_admitted(connection, &ServerMessage::Inventory(result));
    }

    /// Inventory changes refused by the game's rules (a client asking for
    /// items rather than giving up its own) since the start.
    pub fn inventory_not_allowed(&self) -> u64 {
        self.inventory_not_allowed
    }

    pub(super) fn request_inventory(&mut self, connection: ConnectionId, change: InventoryChange) {
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if !client_may_ask(&change) {
            self.inventory_not_allowed += 1;
            self.refuse_inventory(connection, change, InventoryStatus::NotAllowed);
            return;
        }
        let state = self.state_of(&member);
        match state {
            Some(state) if member.inventory_in_flight < MAX_INVENTORY_IN_FLIGHT => {
                if let Some(in_flight) = self.members.inventory_in_flight_mut(connection) {
                    *in_flight += 1;
                }
                self.inventory_requests.push(InventoryRequest {
                    connection,
                    change,
                    state,
                });
            }
            _ => {
                self.inventory_busy += 1;
                self.refuse_inventory(connection, change, InventoryStatus::Busy);
            }
        }
    }

    /// Answers a change that was not passed on to the database: nothing moved.
    fn refuse_inventory(
        &mut self,
        connection: ConnectionId,
        change: InventoryChange,
        status: InventoryStatus,
    ) {
        let refused = InventoryResult {
            request: change.request,
            item: change.item,
            quantity: 0,
            status,
        };
        // Only admitted members ask for changes, so this cannot fail.
        let _ = self
            .server
            .send_admitted(connection, &ServerMessage::Inventory(refused));
    }
}

/// What a client may ask of its own inventory: only to give up (use, drop)
/// what it holds, a negative delta, which the database bounds by the count
/// held (`NotEnough`). Items are granted by the server's own rules or by an
/// admin (`POST /api/v1/admin/inventory/grant`), never by asking.
fn client_may_ask(change: &InventoryChange) -> bool {
    change.delta < 0
}
