extension SlotManager {
    /// Which slot an install writes (`booted` is the running slot, when known), and the refusals: never the booted slot,
    /// never R except `--slot R --provision` while R is not booted, never a
    /// readonly slot without `--provision`.
    public func installTarget(requested: SlotName?, provision: Bool, booted: SlotName?, state: SystemState) throws(SlotError) -> SlotName {
        if let slot = requested {
            if slot == booted {
                throw SlotError(.bootedSlot, "slot \(slot) is the booted slot; an install never overwrites the running system")
            }
            if slot == .R && !provision {
                throw SlotError(.readonlySlot, "R is the recovery slot; it is written only by provisioning (--slot R --provision)")
            }
            if config.slot(slot).readonly && !provision {
                throw SlotError(.readonlySlot, "slot \(slot) is readonly in \(config.path); it is written only by provisioning (--provision)")
            }
            return slot
        }
        if provision {
            throw SlotError(.usage, "--provision needs --slot")
        }
        let slot: SlotName
        if let booted, let sibling = booted.sibling {
            slot = sibling
        } else {
            // R is running, or nobody knows: take the slot least worth keeping.
            slot = SlotName.counted.min { lhs, rhs in
                let l = state[lhs], r = state[rhs]
                func rank(_ status: SlotStatus) -> Int {
                    switch status {
                    case .empty, .installing, .bad: 0
                    case .ready: 1
                    case .good: 2
                    }
                }
                if rank(l.status) != rank(r.status) { return rank(l.status) < rank(r.status) }
                if l.priority != r.priority { return l.priority < r.priority }
                return (l.installed ?? 0) < (r.installed ?? 0)
            }!
        }
        if config.slot(slot).readonly {
            throw SlotError(.readonlySlot, "slot \(slot) is readonly in \(config.path)")
        }
        return slot
    }
}
