//! The text form of a socket address as a file stores it (FORMAT.md "The entry": Rust's
//! `SocketAddr` `Display`), written and parsed without `core::fmt` and without `core::net`'s
//! general parser, which together were about a fifth of an encode and a decode. Owns nothing
//! but that text form: it must print exactly what `Display` prints and accept exactly what
//! `SocketAddr::from_str` accepts (same value, same rejections), which the property tests below
//! check against `std` over random IPv4, IPv6 and scope-id addresses and random near-addresses.
//! It never allocates.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Longest text of a socket address: `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535`
/// is 58 bytes.
pub(crate) const MAX_ADDR_TEXT: usize = 58;

/// A socket address printed as `Display` prints it, on the stack.
pub(crate) struct AddrText {
    buf: [u8; MAX_ADDR_TEXT],
    len: usize,
}

impl AddrText {
    /// `addr` as `Display` prints it: `a.b.c.d:port`, or `[ipv6]:port` / `[ipv6%scope]:port`
    /// (RFC 5952 shortening, lowercase hex, `::ffff:a.b.c.d` for IPv4-mapped addresses; the flow
    /// info is never printed).
    pub(crate) fn new(addr: &SocketAddr) -> AddrText {
        let mut t = AddrText {
            buf: [0; MAX_ADDR_TEXT],
            len: 0,
        };
        match addr {
            SocketAddr::V4(a) => {
                t.ipv4(a.ip());
                t.push(b':');
                t.decimal(u32::from(a.port()));
            }
            SocketAddr::V6(a) => {
                t.push(b'[');
                t.ipv6(a.ip());
                if a.scope_id() != 0 {
                    t.push(b'%');
                    t.decimal(a.scope_id());
                }
                t.push(b']');
                t.push(b':');
                t.decimal(u32::from(a.port()));
            }
        }
        t
    }

    /// The text's bytes (ASCII).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Every byte pushed is an ASCII digit, hex digit or punctuation.
        std::str::from_utf8(self.as_bytes()).expect("an address text is ASCII")
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `n` in decimal without leading zeros.
    #[inline]
    fn decimal(&mut self, n: u32) {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(n).as_bytes();
        self.buf[self.len..self.len + d.len()].copy_from_slice(d);
        self.len += d.len();
    }

    /// `n` in lowercase hex without leading zeros (`{:x}`).
    #[inline]
    fn hex(&mut self, n: u16) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12u32, 8, 4, 0] {
            let d = (n >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                self.push(HEX[usize::from(d)]);
                started = true;
            }
        }
    }

    fn ipv4(&mut self, ip: &Ipv4Addr) {
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.decimal(u32::from(octet));
        }
    }

    /// `Ipv6Addr`'s `Display`: an IPv4-mapped address as `::ffff:a.b.c.d`; otherwise the
    /// segments in hex with the first longest run of two or more zero segments as `::`.
    fn ipv6(&mut self, ip: &Ipv6Addr) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            self.buf[self.len..self.len + 7].copy_from_slice(b"::ffff:");
            self.len += 7;
            self.ipv4(&v4);
            return;
        }
        let segments = ip.segments();
        let (mut best_start, mut best_len) = (0usize, 0usize);
        let (mut cur_start, mut cur_len) = (0usize, 0usize);
        for (i, &s) in segments.iter().enumerate() {
            if s == 0 {
                if cur_len == 0 {
                    cur_start = i;
                }
                cur_len += 1;
                if cur_len > best_len {
                    (best_start, best_len) = (cur_start, cur_len);
                }
            } else {
                cur_len = 0;
            }
        }
        if best_len > 1 {
            self.segments(&segments[..best_start]);
            self.push(b':');
            self.push(b':');
            self.segments(&segments[best_start + best_len..]);
        } else {
            self.segments(&segments);
        }
    }

    fn segments(&mut self, segments: &[u16]) {
        for (i, &s) in segments.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.hex(s);
        }
    }
}

/// Parses the text of a socket address exactly as `SocketAddr::from_str` does: `a.b.c.d:port`
/// (decimal octets of at most three digits, no leading zero, port with any number of digits)
/// or `[ipv6]:port` / `[ipv6%scope]:port` (groups of at most four hex digits of either case,
/// one `::`, a trailing dotted IPv4 part). `None` for anything `std` rejects.
pub(crate) fn parse(text: &[u8]) -> Option<SocketAddr> {
    let mut p = Cursor { s: text, at: 0 };
    let addr = if p.peek() == Some(b'[') {
        p.at += 1;
        let ip = p.ipv6()?;
        let scope = if p.peek() == Some(b'%') {
            p.at += 1;
            p.number::<u32>(10, None, true)?
        } else {
            0
        };
        p.expect(b']')?;
        p.expect(b':')?;
        let port = p.number::<u16>(10, None, true)?;
        SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
    } else {
        let ip = p.ipv4()?;
        p.expect(b':')?;
        let port = p.number::<u16>(10, None, true)?;
        SocketAddr::V4(SocketAddrV4::new(ip, port))
    };
    (p.at == text.len()).then_some(addr)
}

/// Unsigned integers the parser reads.
trait Number: Copy {
    fn from_u32(v: u32) -> Option<Self>;
}

impl Number for u8 {
    fn from_u32(v: u32) -> Option<Self> {
        u8::try_from(v).ok()
    }
}
impl Number for u16 {
    fn from_u32(v: u32) -> Option<Self> {
        u16::try_from(v).ok()
    }
}
impl Number for u32 {
    fn from_u32(v: u32) -> Option<Self> {
        Some(v)
    }
}

/// A position in the text. Every reader either succeeds and moves past what it read, or fails
/// and leaves the position where it was (as `std`'s `read_atomically` does).
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    #[inline]
    fn expect(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// `std`'s `read_number`: digits of `radix` (greedy), failing on overflow of `T`, on more
    /// than `max_digits` digits, on none, and on a leading zero before more digits unless
    /// `allow_zero_prefix`.
    #[inline]
    fn number<T: Number>(
        &mut self,
        radix: u32,
        max_digits: Option<usize>,
        allow_zero_prefix: bool,
    ) -> Option<T> {
        let start = self.at;
        let result = self.number_inner::<T>(radix, max_digits, allow_zero_prefix);
        if result.is_none() {
            self.at = start;
        }
        result
    }

    #[inline]
    fn number_inner<T: Number>(
        &mut self,
        radix: u32,
        max_digits: Option<usize>,
        allow_zero_prefix: bool,
    ) -> Option<T> {
        let has_leading_zero = self.peek() == Some(b'0');
        let mut value: u32 = 0;
        let mut count = 0usize;
        while let Some(d) = self.peek().and_then(|b| char::from(b).to_digit(radix)) {
            self.at += 1;
            // Checked in T, as std does: overflow fails even when more digits follow.
            value = value.checked_mul(radix)?.checked_add(d)?;
            T::from_u32(value)?;
            count += 1;
            if max_digits.is_some_and(|m| count > m) {
                return None;
            }
        }
        if count == 0 || (!allow_zero_prefix && has_leading_zero && count > 1) {
            return None;
        }
        T::from_u32(value)
    }

    /// `std`'s `read_ipv4_addr`: four decimal octets joined by dots.
    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        let start = self.at;
        let mut octets = [0u8; 4];
        for (i, slot) in octets.iter_mut().enumerate() {
            if i > 0 && self.expect(b'.').is_none() {
                self.at = start;
                return None;
            }
            match self.number::<u8>(10, Some(3), false) {
                Some(o) => *slot = o,
                None => {
                    self.at = start;
                    return None;
                }
            }
        }
        Some(Ipv4Addr::from(octets))
    }

    /// One element of a group list: the separator (unless first), then `inner`; all or nothing.
    #[inline]
    fn separated<T>(
        &mut self,
        index: usize,
        inner: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let start = self.at;
        let result = if index > 0 && self.expect(b':').is_none() {
            None
        } else {
            inner(self)
        };
        if result.is_none() {
            self.at = start;
        }
        result
    }

    /// `std`'s `read_groups`: up to `groups.len()` hex groups, where a dotted IPv4 address may
    /// stand for the last two. Returns how many groups were read and whether an IPv4 part was.
    fn groups(&mut self, groups: &mut [u16]) -> (usize, bool) {
        let limit = groups.len();
        for i in 0..limit {
            // An IPv4 part has a dot after its first octet (at most three digits, after the
            // separator): without one within reach the attempt would fail, so it is skipped.
            let reach = self.at + usize::from(i > 0);
            let dot_ahead = self
                .s
                .get(reach + 1..)
                .is_some_and(|rest| rest.iter().take(3).any(|&b| b == b'.'));
            if i < limit - 1 && dot_ahead {
                if let Some(v4) = self.separated(i, Self::ipv4) {
                    let [a, b, c, d] = v4.octets();
                    groups[i] = u16::from_be_bytes([a, b]);
                    groups[i + 1] = u16::from_be_bytes([c, d]);
                    return (i + 2, true);
                }
            }
            match self.separated(i, |p| p.number::<u16>(16, Some(4), true)) {
                Some(g) => groups[i] = g,
                None => return (i, false),
            }
        }
        (limit, false)
    }

    /// `std`'s `read_ipv6_addr`: the groups before `::`, then `::` and the groups after it.
    fn ipv6(&mut self) -> Option<Ipv6Addr> {
        let start = self.at;
        let result = self.ipv6_inner();
        if result.is_none() {
            self.at = start;
        }
        result
    }

    fn ipv6_inner(&mut self) -> Option<Ipv6Addr> {
        let mut head = [0u16; 8];
        let (head_len, head_v4) = self.groups(&mut head);
        if head_len == 8 {
            return Some(Ipv6Addr::from(head));
        }
        // An IPv4 part may only end the address.
        if head_v4 {
            return None;
        }
        self.expect(b':')?;
        self.expect(b':')?;
        // `::` stands for at least one zero group, so at most seven follow it.
        let mut tail = [0u16; 7];
        let limit = 8 - (head_len + 1);
        let (tail_len, _) = self.groups(&mut tail[..limit]);
        head[8 - tail_len..].copy_from_slice(&tail[..tail_len]);
        Some(Ipv6Addr::from(head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn check_print(addr: SocketAddr) {
        assert_eq!(AddrText::new(&addr).as_str(), addr.to_string());
    }

    fn check_parse(text: &str) {
        assert_eq!(
            parse(text.as_bytes()),
            text.parse::<SocketAddr>().ok(),
            "{text:?}"
        );
    }

    /// IPv6 segments with many zeros, so that `::` runs of every length and position occur.
    fn segments() -> impl Strategy<Value = [u16; 8]> {
        prop::array::uniform8(prop_oneof![
            3 => Just(0u16),
            1 => Just(1u16),
            1 => Just(0xffff_u16),
            3 => any::<u16>(),
        ])
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        let port = prop_oneof![Just(0u16), Just(7447u16), Just(65535u16), any::<u16>()];
        let scope = prop_oneof![3 => Just(0u32), 1 => Just(u32::MAX), 1 => any::<u32>()];
        let flow = prop_oneof![Just(0u32), any::<u32>()];
        prop_oneof![
            (any::<u32>(), port.clone())
                .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
            (segments(), port.clone(), flow.clone(), scope.clone()).prop_map(
                |(s, port, flow, scope)| {
                    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(s), port, flow, scope))
                }
            ),
            // IPv4-mapped and IPv4-compatible addresses.
            (any::<u32>(), any::<bool>(), port, scope).prop_map(|(v4, mapped, port, scope)| {
                let v4 = Ipv4Addr::from(v4);
                let ip = if mapped {
                    v4.to_ipv6_mapped()
                } else {
                    v4.to_ipv6_compatible()
                };
                SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
            }),
        ]
    }

    /// Text near an address: printed addresses with edits, and strings over the address
    /// alphabet, so that rejections are compared too.
    fn near_text() -> impl Strategy<Value = String> {
        let alphabet = prop::sample::select(
            b"0123456789abcdefABCDEFgx:.[]%-+ "
                .iter()
                .map(|&b| char::from(b))
                .collect::<Vec<_>>(),
        );
        prop_oneof![
            prop::collection::vec(alphabet.clone(), 0..60)
                .prop_map(|v| v.into_iter().collect::<String>()),
            (
                socket_addr(),
                prop::collection::vec((any::<prop::sample::Index>(), alphabet, 0u8..3), 1..4)
            )
                .prop_map(|(addr, edits)| {
                    let mut s: Vec<char> = addr.to_string().chars().collect();
                    for (at, c, op) in edits {
                        let i = at.index(s.len() + 1);
                        match op {
                            0 => s.insert(i, c),
                            1 if i < s.len() => s[i] = c,
                            _ if i < s.len() => {
                                s.remove(i);
                            }
                            _ => s.push(c),
                        }
                    }
                    s.into_iter().collect()
                }),
            // Leading zeros, long digit runs and large numbers in every field.
            (
                prop::collection::vec("0{0,3}[0-9]{1,4}", 4),
                "0{0,6}[0-9]{1,7}"
            )
                .prop_map(|(o, port)| format!("{}.{}.{}.{}:{port}", o[0], o[1], o[2], o[3])),
            (
                prop::collection::vec("[0-9a-fA-F]{0,5}", 2..9),
                "[0-9]{0,11}",
                "[0-9]{1,6}"
            )
                .prop_map(|(g, scope, port)| {
                    let scope = if scope.is_empty() {
                        String::new()
                    } else {
                        format!("%{scope}")
                    };
                    format!("[{}{scope}]:{port}", g.join(":"))
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn prints_as_display_and_parses_as_from_str(addr in socket_addr()) {
            check_print(addr);
            let text = addr.to_string();
            check_parse(&text);
            // What a file stores round-trips to the stored address (flow info dropped).
            prop_assert_eq!(parse(text.as_bytes()), Some(crate::stored_addr(addr)));
        }

        #[test]
        fn accepts_and_rejects_what_from_str_does(text in near_text()) {
            check_parse(&text);
        }
    }

    #[test]
    fn edge_cases_match_std() {
        for addr in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::]:0",
            "[::1]:1",
            "[1::]:1",
            "[1:0:0:1:0:0:0:1]:7",
            "[1:0:0:1:0:0:1:1]:7",
            "[::ffff:1.2.3.4]:80",
            "[::1.2.3.4]:80",
            "[fe80::1%3]:7447",
            "[fe80::1%4294967295]:65535",
        ] {
            check_print(addr.parse().expect("a valid address"));
            check_parse(addr);
        }
        for text in [
            "",
            ":",
            "1.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:00000000000000080",
            "01.2.3.4:1",
            "1.2.3.256:1",
            "1.2.3:1",
            "1.2.3.4.5:1",
            " 1.2.3.4:1",
            "1.2.3.4:1 ",
            "1.2.3.4:+1",
            "[::]",
            "[::]:",
            "[::]:1x",
            "[:::]:1",
            "[1:2:3:4:5:6:7:8:9]:1",
            "[1:2:3:4:5:6:7::8]:1",
            "[1:2:3:4:5:6:7:8::]:1",
            "[::1:2:3:4:5:6:7:8]:1",
            "[1:2:3:4:5:6:1.2.3.4]:1",
            "[1:2:3:4:5:6:7:1.2.3.4]:1",
            "[1.2.3.4::]:1",
            "[::1.2.3.4:1]:1",
            // Where the dotted part may start: a first octet of one to three digits, or not.
            "[::12.3.4.5]:1",
            "[::123.4.5.6]:1",
            "[::1234.5.6.7]:1",
            "[1::.1.2.3]:1",
            "[1::2:3.4]:1",
            "[1::0123.4.5.6]:1",
            "[1:2:3:4:5::255.255.255.255]:1",
            "[00000::]:1",
            "[ABCD::EF]:1",
            "[::%]:1",
            "[::%4294967296]:1",
            "[::%01]:1",
            "[::]%1:1",
            "[::1]:65535",
            "[::1]:65536",
            "[::01.2.3.4]:1",
            "[::1.2.3.04]:1",
        ] {
            check_parse(text);
        }
    }
}
