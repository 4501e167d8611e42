print("slot-server: not built yet")
