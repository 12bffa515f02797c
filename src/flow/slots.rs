//! Per-flow state of a later stage, indexed by [`FlowId`] slot: no hashing on the hot
//! path, and a stale id (a flow that ended) never reaches the state of the flow that
//! took its slot, because the generation must match.

use super::FlowId;

/// A map from live [`FlowId`]s to `T`, stored by slot.
#[derive(Debug)]
pub struct FlowSlots<T> {
    slots: Vec<Option<(u32, T)>>,
    len: usize,
}

impl<T> Default for FlowSlots<T> {
    fn default() -> Self {
        FlowSlots {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T> FlowSlots<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, id: FlowId) -> Option<&T> {
        match self.slots.get(id.slot as usize)? {
            Some((generation, value)) if *generation == id.generation => Some(value),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut T> {
        match self.slots.get_mut(id.slot as usize)? {
            Some((generation, value)) if *generation == id.generation => Some(value),
            _ => None,
        }
    }

    /// The state of `id`, created with `make` if absent. A leftover state of an older flow
    /// in the same slot is replaced (its owner should have removed it when the flow ended).
    pub fn get_or_insert_with(&mut self, id: FlowId, make: impl FnOnce() -> T) -> &mut T {
        let idx = id.slot as usize;
        if idx >= self.slots.len() {
            self.slots.resize_with(idx + 1, || None);
        }
        let slot = &mut self.slots[idx];
        if slot
            .as_ref()
            .is_some_and(|(generation, _)| *generation != id.generation)
        {
            *slot = None;
            self.len -= 1;
        }
        if slot.is_none() {
            self.len += 1;
        }
        &mut slot.get_or_insert_with(|| (id.generation, make())).1
    }

    pub fn remove(&mut self, id: FlowId) -> Option<T> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        match slot {
            Some((generation, _)) if *generation == id.generation => {
                self.len -= 1;
                slot.take().map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_keep_flows_apart() {
        let mut m = FlowSlots::default();
        let a = FlowId {
            slot: 3,
            generation: 1,
        };
        let b = FlowId {
            slot: 3,
            generation: 2,
        };
        *m.get_or_insert_with(a, || 0) += 5;
        assert_eq!(m.get_mut(a).copied(), Some(5));
        assert!(m.get_mut(b).is_none());
        assert!(m.remove(b).is_none());
        assert_eq!(m.remove(a), Some(5));
        assert!(m.is_empty());
    }
}
