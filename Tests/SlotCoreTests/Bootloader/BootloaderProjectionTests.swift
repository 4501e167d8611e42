import SlotTestSupport
import Testing
@testable import SlotCore

@Suite struct BootloaderProjectionTests {
    typealias Slot = (SlotStatus, Int, Int)  // status, priority, tries

    func state(_ a: Slot, _ b: Slot, recoveryOnce: Bool = false) -> SystemState {
        var state = SystemState()
        state[.A].status = a.0
        state[.A].priority = a.1
        state[.A].tries = a.2
        state[.B].status = b.0
        state[.B].priority = b.1
        state[.B].tries = b.2
        state.recoveryOnce = recoveryOnce
        return state
    }

    func text(_ variables: [EnvironmentVariable]) -> String {
        variables.map(\.description).joined(separator: " ")
    }

    @Test func grubVariablesForATrialOfB() throws {
        let variables = try BootloaderProjection.grubVariables(state((.good, 1, 3), (.ready, 2, 2)), maxTries: 3)
        #expect(text(variables) == "A_OK=1 A_TRY=0 A_LEFT=3 B_OK=1 B_TRY=1 B_LEFT=2 R_ONCE=0 ORDER=B A")
        #expect(variables.map(\.name) == BootloaderProjection.ownedNames(.grub))
    }

    @Test func ubootVariablesAreHex() {
        let variables = BootloaderProjection.ubootVariables(state((.good, 1, 12), (.bad, 0, 0), recoveryOnce: true), maxTries: 20)
        #expect(text(variables) == "BOOT_ORDER=A B BOOT_A_LEFT=c BOOT_B_LEFT=0 BOOT_R_ONCE=1")
        #expect(variables.map(\.name) == BootloaderProjection.ownedNames(.uboot))
    }

    @Test func theOrderAlwaysNamesBothSlots() throws {
        // Nothing bootable: both still in the order (an empty one means "unprovisioned"), neither eligible.
        let none = state((.bad, 0, 0), (.empty, 0, 0))
        #expect(text(try BootloaderProjection.grubVariables(none, maxTries: 3)) == "A_OK=0 A_TRY=0 A_LEFT=0 B_OK=0 B_TRY=0 B_LEFT=0 R_ONCE=0 ORDER=A B")
        #expect(try BootloaderView(projecting: none, kind: .grub, maxTries: 3).nextBoot == .R)
        #expect(try BootloaderView(projecting: none, kind: .uboot, maxTries: 3).nextBoot == .R)
        // Only B bootable: B first.
        #expect(BootloaderProjection.order(state((.installing, 3, 3), (.good, 1, 1))) == [.B, .A])
    }

    @Test func grubRefusesMoreThanNineTriesAndClampsStateTries() throws {
        #expect(throws: SlotError.self) { try BootloaderProjection.grubVariables(SystemState(), maxTries: 10) }
        #expect(throws: SlotError.self) { try BootloaderProjection.grubVariables(SystemState(), maxTries: 0) }
        // A state written under a larger max-tries never projects more than max-tries.
        let variables = try BootloaderProjection.grubVariables(state((.good, 1, 40), (.empty, 0, 0)), maxTries: 9)
        #expect(variables.contains(EnvironmentVariable("A_LEFT", "9")) && variables.contains(EnvironmentVariable("A_TRY", "0")))
    }

    static let states: [(Slot, Slot, Bool)] = {
        let statuses: [SlotStatus] = [.empty, .installing, .ready, .good, .bad]
        var result: [(Slot, Slot, Bool)] = []
        for aStatus in statuses {
            for bStatus in statuses {
                for (ap, bp) in [(1, 2), (2, 1), (1, 1), (0, 1)] {
                    for (at, bt) in [(3, 3), (0, 2), (1, 0), (2, 1)] {
                        result.append(((aStatus, ap, at), (bStatus, bp, bt), false))
                    }
                }
            }
        }
        result.append(((.good, 1, 3), (.ready, 2, 3), true))
        return result
    }()

    /// The environment slotctl writes makes the bootloader choose what
    /// BootSelector would choose, and reads back without disagreement.
    @Test(arguments: [BootloaderKind.grub, .uboot])
    func theBootloaderChoosesWhatBootSelectorChooses(kind: BootloaderKind) throws {
        for (a, b, recoveryOnce) in Self.states {
            let state = state(a, b, recoveryOnce: recoveryOnce)
            var grub = GrubEnvironment()
            var uboot = UBootEnvironment()
            let view: BootloaderView
            switch kind {
            case .grub:
                try BootloaderProjection.apply(.grub, state: state, maxTries: 3, to: &grub)
                view = BootloaderView(.grub, environment: try GrubEnvironment.parse(try grub.encoded()))
            case .uboot:
                try BootloaderProjection.apply(.uboot, state: state, maxTries: 3, to: &uboot)
                view = BootloaderView(.uboot, environment: UBootEnvironment.decodeCopy(try uboot.encodeCopy(size: 0x400, flag: 1), redundant: true).environment!)
            }
            #expect(view.provisioned && view.problems.isEmpty)
            #expect(view.nextBoot == BootSelector.preview(state), "A=\(a) B=\(b) once=\(recoveryOnce)")
            #expect(view.order.filter { view[$0].eligible } == BootSelector.candidates(state))
            #expect(try view.disagreements(with: state, maxTries: 3) == [])
        }
    }

    @Test func disagreementsSayWhatDiffers() throws {
        let state = state((.good, 1, 3), (.ready, 2, 3))
        var env = GrubEnvironment()
        try BootloaderProjection.apply(.grub, state: state, maxTries: 3, to: &env)
        // GRUB booted B once and counted it; the state has not heard yet.
        try env.set("B_LEFT", "2")
        try env.set("B_TRY", "1")
        var view = BootloaderView(.grub, environment: env)
        #expect(try view.disagreements(with: state, maxTries: 3).map(\.description) == ["B.tries: state says 3, bootloader environment says 2"])

        // B's tries ran out in GRUB: it boots A.
        try env.set("B_LEFT", "0")
        try env.set("R_ONCE", "1")
        view = BootloaderView(.grub, environment: env)
        #expect(try view.disagreements(with: state, maxTries: 3).map(\.subject) == ["next-boot", "order", "recovery-once", "B.eligible"])

        // A factory-fresh grubenv: not provisioned, boots A uncounted.
        view = BootloaderView(.grub, environment: GrubEnvironment())
        #expect(!view.provisioned && view.nextBoot == .A)
        let differences = try view.disagreements(with: state, maxTries: 3)
        #expect(differences.first == BootloaderDisagreement(subject: "provisioned", state: "provisioned", bootloader: "not provisioned (boots A uncounted)"))
        #expect(differences.contains { $0.subject == "next-boot" && $0.state == "B" && $0.bootloader == "A" })
    }

    @Test func readsAnEnvironmentRaucWrote() throws {
        // RAUC's grub.conf convention: no <S>_LEFT, eligible = OK and not tried.
        var env = GrubEnvironment()
        try env.apply([EnvironmentVariable("ORDER", "A B R"), EnvironmentVariable("A_OK", "1"), EnvironmentVariable("A_TRY", "1"), EnvironmentVariable("B_OK", "1"), EnvironmentVariable("B_TRY", "0")])
        let view = BootloaderView(.grub, environment: env)
        #expect(view.order == [.A, .B] && view.problems == ["ORDER names 'R', which is not A or B"])
        #expect(!view[.A].eligible && view[.B].eligible && view[.B].triesLeft == nil)
        #expect(view.nextBoot == .B)
    }

    @Test func readsUBootValuesAsScriptsDo() throws {
        var env = UBootEnvironment()
        try env.apply([EnvironmentVariable("BOOT_ORDER", "B"), EnvironmentVariable("BOOT_A_LEFT", "3"), EnvironmentVariable("BOOT_B_LEFT", "0xa"), EnvironmentVariable("BOOT_R_ONCE", "0")])
        var view = BootloaderView(.uboot, environment: env)
        // A has tries but is not in the order: the script never reaches it.
        #expect(!view[.A].eligible && view[.B].eligible && view[.B].triesLeft == 10 && view.nextBoot == .B)
        try env.set("BOOT_B_LEFT", "zz")
        view = BootloaderView(.uboot, environment: env)
        #expect(!view[.B].eligible && view.problems == ["BOOT_B_LEFT='zz' is not a hex number"] && view.nextBoot == .R)
        view = BootloaderView(.uboot, environment: UBootEnvironment())
        #expect(!view.provisioned && view.nextBoot == .A)
    }

    // MARK: - Kernel command line

    @Test(arguments: [
        ("root=/dev/vda3 slotctl.slot=B quiet", SlotName?.some(.B)),
        ("slotctl.slot=A console=ttyS0 slotctl.slot=R", .R),  // the last one wins
        ("BOOT_IMAGE=/boot/vmlinuz slotctl.slot=\"B\"", .B),
        ("\"slotctl.slot=A\" ro", .A),
        ("quiet splash", nil),
        ("slotctl.slotx=A xslotctl.slot=B", nil),
        ("slotctl.slot=A -- slotctl.slot=B", .A),  // after "--" the words are init's
        ("foo=\"a b slotctl.slot=B\" slotctl.slot=A", .A),  // inside quotes it is a value
        ("\tslotctl.slot=B\n", .B),
        ("", nil),
    ])
    func findsTheBootedSlotOnTheKernelCommandLine(commandLine: String, expected: SlotName?) throws {
        #expect(try KernelCommandLine.bootedSlot(commandLine) == expected)
    }

    @Test func anUnknownSlotOnTheCommandLineIsAnError() throws {
        for commandLine in ["slotctl.slot=C", "slotctl.slot=B slotctl.slot", "slotctl.slot="] {
            #expect(throws: SlotError.self, "\(commandLine)") { try KernelCommandLine.bootedSlot(commandLine) }
        }
        // An unknown value earlier is overridden by a later good one.
        #expect(try KernelCommandLine.bootedSlot("slotctl.slot=X slotctl.slot=A") == .A)
    }

    @Test func splitsLikeTheKernel() {
        let parameters = KernelCommandLine.parameters("a b=c \"d=e f\" g=\"h i\" j= \"k\"")
        #expect(parameters.map(\.name) == ["a", "b", "d", "g", "j", "k"])
        #expect(parameters.map(\.value) == [nil, "c", "e f", "h i", "", nil])
    }
}
