enum CSlotctlPlaceholder {}
