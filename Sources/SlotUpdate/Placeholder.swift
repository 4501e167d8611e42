enum SlotUpdatePlaceholder {}
