//! The name service: which endpoint answers to which name.
//!
//! Every service a plan entry provides has an entry here from the start,
//! pointing at the endpoint init made for the provider's current
//! incarnation (none while it is down). `register` points a name at an
//! endpoint a server sent (its own plan name, or a new name, which then
//! lives as long as the registering server).

use libipc::abi::Rights;
use libipc::cap::{CNode, Cap, Endpoint, init as root};
use libipc::plan::{Name, Plan};
use libipc::proto::init::{self as initp, Found};

use crate::procs::{Proc, State, TO_SERVER};

/// Most names (plan services and registered ones together).
pub const MAX_NAMES: usize = 32;

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub name: Name,
    pub protocol: Name,
    pub version: u32,
    /// The providing (or registering) server's index.
    pub owner: usize,
    /// The endpoint, in init's CNode (none while the provider is down).
    pub ep: Option<Cap<Endpoint>>,
    /// `ep` came with a `register` call: init's slot to delete when the
    /// owner goes.
    pub registered: bool,
    /// Not in the plan: registered at run time.
    pub dynamic: bool,
}

pub struct Names {
    entries: [Option<Entry>; MAX_NAMES],
}

impl Names {
    /// An entry per service the plan's servers provide, all down.
    pub fn from_plan(plan: &Plan) -> Names {
        let mut n = Names { entries: [None; MAX_NAMES] };
        let mut k = 0;
        for (i, s) in plan.servers.iter().enumerate() {
            for svc in s.provides.iter() {
                if let Some(slot) = n.entries.get_mut(k) {
                    *slot = Some(Entry {
                        name: svc.name,
                        protocol: svc.protocol,
                        version: svc.version,
                        owner: i,
                        ep: None,
                        registered: false,
                        dynamic: false,
                    });
                    k += 1;
                }
            }
        }
        n
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().flatten().find(|e| e.name.as_str() == name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().flatten().find(|e| e.name.as_str() == name)
    }

    /// Server `owner` (re)started: its plan services point at its new
    /// endpoints.
    pub fn started(&mut self, owner: usize, p: &Proc, plan: &Plan) {
        let Some(s) = plan.servers.get(owner) else { return };
        for (k, svc) in s.provides.iter().enumerate() {
            if let Some(e) = self.get_mut(svc.name.as_str()) {
                e.ep = p.provided.get(k).copied().flatten();
                e.registered = false;
            }
        }
    }

    /// Server `owner` is gone: its services are down, its run-time names
    /// are removed, and the caps it registered are deleted.
    pub fn stopped(&mut self, owner: usize, env: &mut os::Env) {
        for slot in self.entries.iter_mut() {
            let Some(e) = slot else { continue };
            if e.owner != owner {
                continue;
            }
            if e.registered
                && let Some(ep) = e.ep
            {
                let _ = env.delete(ep);
            }
            if e.dynamic {
                *slot = None;
            } else {
                e.ep = None;
                e.registered = false;
            }
        }
    }

    /// Look `name` up for server `caller` and copy the endpoint into its
    /// CNode at `slot`.
    pub fn lookup(
        &self,
        plan: &Plan,
        procs: &[Proc],
        caller: usize,
        name: &Name,
        slot: u64,
    ) -> Result<Found, initp::Error> {
        let e = self.get(name.as_str()).ok_or(initp::Error::NotFound)?;
        let allowed = e.dynamic
            || plan
                .servers
                .get(caller)
                .is_some_and(|s| s.needs.iter().any(|n| n.name.as_str() == name.as_str()));
        if !allowed {
            return Err(initp::Error::NotPermitted);
        }
        let owner_up = procs.get(e.owner).is_some_and(|p| p.state == State::Running);
        let ep = e.ep.filter(|_| owner_up).ok_or(initp::Error::Unavailable)?;
        let c = procs.get(caller).ok_or(initp::Error::NotPermitted)?;
        let (free_start, free_end) =
            (libipc::start::slots::FIRST_PLANNED, 1u64 << libipc::start::CNODE_RADIX);
        if slot < free_start || slot >= free_end {
            return Err(initp::Error::BadSlot);
        }
        copy_into(c.cnode, slot, ep).map_err(|e| match e {
            libipc::abi::Error::SlotOccupied | libipc::abi::Error::RangeError => {
                initp::Error::BadSlot
            }
            // The registered cap is gone (it was derived from a server that
            // has restarted since).
            _ => initp::Error::Unavailable,
        })?;
        Ok(Found { slot, protocol: e.protocol, version: e.version })
    }

    /// Register the endpoint init received into `ep` under `name` for
    /// server `caller` (the caller checked with `CNodeIdentify` that it is
    /// an endpoint). On success the slot belongs to the registry.
    pub fn register(
        &mut self,
        caller: usize,
        name: &Name,
        protocol: &Name,
        version: u32,
        ep: Cap<Endpoint>,
    ) -> Result<(), initp::Error> {
        if name.is_empty() || name.as_str() == "init" {
            return Err(initp::Error::NotPermitted);
        }
        if let Some(e) = self.get_mut(name.as_str()) {
            // A plan name: only its provider may re-point it, at the same
            // protocol and version. A run-time name: only its owner.
            if e.owner != caller || e.protocol != *protocol || e.version != version {
                return Err(initp::Error::NotPermitted);
            }
            if e.registered {
                return Err(initp::Error::NotPermitted);
            }
            e.ep = Some(ep);
            e.registered = true;
            return Ok(());
        }
        let slot = self.entries.iter_mut().find(|e| e.is_none()).ok_or(initp::Error::Full)?;
        *slot = Some(Entry {
            name: *name,
            protocol: *protocol,
            version,
            owner: caller,
            ep: Some(ep),
            registered: true,
            dynamic: true,
        });
        Ok(())
    }
}

/// Copy `ep` (call and grant, as for `needs`) into slot `slot` of `cnode`.
fn copy_into(cnode: Cap<CNode>, slot: u64, ep: Cap<Endpoint>) -> Result<(), libipc::abi::Error> {
    cnode.copy(slot, root::CNODE, ep.slot(), TO_SERVER.intersect(Rights::ALL))
}
