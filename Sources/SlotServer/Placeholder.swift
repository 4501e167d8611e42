enum SlotServerPlaceholder {}
