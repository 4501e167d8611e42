print("slot-boot")
