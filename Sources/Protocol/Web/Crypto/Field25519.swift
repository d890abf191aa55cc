/// Just enough arithmetic modulo p = 2^255 - 19 to turn a Montgomery u-coordinate into the matching
/// Edwards y-coordinate, y = (u - 1) / (u + 1): the one step of XEdDSA verification that neither
/// swift-crypto nor libsodium offers. Four 64-bit limbs, little-endian; not constant-time, which is
/// fine because it only ever sees public keys.
enum Field25519 {
    typealias Element = [UInt64]

    static let p: Element = [0xFFFF_FFFF_FFFF_FFED, .max, .max, 0x7FFF_FFFF_FFFF_FFFF]
    static let one: Element = [1, 0, 0, 0]

    static func edwardsY(fromMontgomeryU bytes: [UInt8]) -> [UInt8] {
        var u = element(bytes)
        u[3] &= 0x7FFF_FFFF_FFFF_FFFF  // bit 255 is not part of u
        u = canonical(u)
        let y = multiply(subtract(u, one), invert(add(u, one)))
        return self.bytes(y)
    }

    static func element(_ bytes: [UInt8]) -> Element {
        (0..<4).map { limb in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[limb * 8 + $1]) << (8 * $1) }
        }
    }

    static func bytes(_ element: Element) -> [UInt8] {
        element.flatMap { limb in (0..<8).map { UInt8(truncatingIfNeeded: limb >> (8 * $0)) } }
    }

    /// Adds without reduction; returns the sum and the carry out of the top limb.
    private static func addRaw(_ a: Element, _ b: Element) -> (Element, UInt64) {
        var result = Element(repeating: 0, count: 4)
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, o1) = a[i].addingReportingOverflow(b[i])
            let (s2, o2) = s1.addingReportingOverflow(carry)
            result[i] = s2
            carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return (result, carry)
    }

    private static func subtractRaw(_ a: Element, _ b: Element) -> (Element, Bool) {
        var result = Element(repeating: 0, count: 4)
        var borrow: UInt64 = 0
        for i in 0..<4 {
            let (d1, o1) = a[i].subtractingReportingOverflow(b[i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            result[i] = d2
            borrow = (o1 || o2) ? 1 : 0
        }
        return (result, borrow != 0)
    }

    /// Brings any 256-bit value below p (2^256 < 3p, so two subtractions at most).
    static func canonical(_ a: Element) -> Element {
        var value = a
        while true {
            let (difference, borrowed) = subtractRaw(value, p)
            if borrowed { return value }
            value = difference
        }
    }

    /// Folds a carry out of bit 256 back in: 2^256 = 38 (mod p).
    private static func fold(_ a: Element, carry: UInt64) -> Element {
        var value = a
        var carry = carry
        while carry != 0 {
            (value, carry) = addRaw(value, [carry &* 38, 0, 0, 0])
        }
        return canonical(value)
    }

    static func add(_ a: Element, _ b: Element) -> Element {
        let (sum, carry) = addRaw(a, b)
        return fold(sum, carry: carry)
    }

    static func subtract(_ a: Element, _ b: Element) -> Element {
        // Both below p, so a + p - b neither overflows 256 bits nor goes negative.
        let (shifted, _) = addRaw(canonical(a), p)
        let (difference, _) = subtractRaw(shifted, canonical(b))
        return canonical(difference)
    }

    static func multiply(_ a: Element, _ b: Element) -> Element {
        var wide = [UInt64](repeating: 0, count: 8)
        for i in 0..<4 {
            var carry: UInt64 = 0
            for j in 0..<4 {
                let product = UInt128(a[i]) * UInt128(b[j]) + UInt128(wide[i + j]) + UInt128(carry)
                wide[i + j] = UInt64(truncatingIfNeeded: product)
                carry = UInt64(truncatingIfNeeded: product >> 64)
            }
            wide[i + 4] = carry
        }
        // low + 38 * high
        var result = Element(repeating: 0, count: 4)
        var carry: UInt128 = 0
        for i in 0..<4 {
            let sum = UInt128(wide[i]) + UInt128(wide[i + 4]) * 38 + carry
            result[i] = UInt64(truncatingIfNeeded: sum)
            carry = sum >> 64
        }
        return fold(result, carry: UInt64(carry))
    }

    /// a^(p-2), Fermat's inverse (0 maps to 0).
    static func invert(_ a: Element) -> Element {
        var exponent = p
        exponent[0] -= 2
        var result = one
        for bit in (0..<255).reversed() {
            result = multiply(result, result)
            if exponent[bit / 64] >> UInt64(bit % 64) & 1 == 1 {
                result = multiply(result, a)
            }
        }
        return result
    }
}
