//! One demo node on tokio: its listener, its links, its dialer and its persistent store, wired to
//! the store's triggers (bootstrap seeding, Connected on a completed HELLO exchange, Gossip from a
//! PEER_LIST, a dial failure on a failed dial). It must not touch files other than through its
//! [`PersistentStore`], and must never let another realm's addresses reach its store: a HELLO
//! from another realm is refused before any later frame of that connection is read.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::time::{timeout, Instant};

use super::protocol::{write_frame, FrameReader, Hello, Message, MAX_LIST};
use knownpeers::{GossipPeer, PeerStore, PersistentStore};

/// Longest wait for a TCP connect on loopback before it counts as a failed dial.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one handshake step (a HELLO, a REFUSE, the one PEER_LIST of a full peer).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait to write one frame on an established link.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a node checks whether it needs more links, at the latest.
const DIAL_TICK: Duration = Duration::from_millis(50);
/// The shortest gap between two dial rounds of one node: a round also starts as soon as a dial
/// ends or a link drops, and this bounds how often that can happen.
const DIAL_MIN_GAP: Duration = Duration::from_millis(5);
/// How often a link asks the other end for its peers (plus up to half of it as jitter).
const GOSSIP_INTERVAL: Duration = Duration::from_secs(4);
/// How often it asks while its node is still short of links, so a node that linked before the
/// others were known learns of them without waiting for the slow interval.
const HUNGRY_GOSSIP_INTERVAL: Duration = Duration::from_millis(250);
/// How long a peer that answered "full" is left alone. Not a dial failure: the peer is alive and
/// in our realm, so the store's backoff (for unreachable peers) is the wrong tool.
const FULL_COOLDOWN: Duration = Duration::from_secs(2);
/// How often an other-realm node tries one cross-realm HELLO in the background.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// State shared by every node of one demo run.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Bounds concurrent outbound connects and handshakes across all nodes, so a restart of
    /// hundreds of nodes is not a connection storm.
    pub dial_permits: Semaphore,
    /// HELLOs refused (by the node that received them) because they came from another realm.
    pub refused_cross_realm: AtomicU64,
    /// Cross-realm HELLOs sent by probing nodes.
    pub probes_sent: AtomicU64,
    /// Cross-realm HELLOs answered with a HELLO: an isolation breach; must stay 0.
    pub probes_accepted: AtomicU64,
}

impl Shared {
    pub(crate) fn new(dial_concurrency: usize) -> Shared {
        Shared {
            dial_permits: Semaphore::new(dial_concurrency),
            refused_cross_realm: AtomicU64::new(0),
            probes_sent: AtomicU64::new(0),
            probes_accepted: AtomicU64::new(0),
        }
    }
}

/// What a node is.
#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    /// Node id sent in HELLO.
    pub node_id: String,
    /// Realm code sent in HELLO and required of peers.
    pub realm: String,
    /// Links the node keeps.
    pub degree: usize,
    /// Most links it accepts (inbound and outbound together).
    pub max_links: usize,
    /// Capabilities sent in HELLO.
    pub capabilities: Vec<String>,
    /// Seeded into the store as Bootstrap at start (it may be down).
    pub bootstrap: Option<SocketAddr>,
    /// Set for other-realm nodes: main-realm addresses to send cross-realm HELLOs to.
    pub probe_targets: Option<watch::Receiver<Vec<SocketAddr>>>,
}

/// A running node. Call [`Node::close`] to stop it with a final save.
pub(crate) struct Node {
    listen_addr: SocketAddr,
    state: Arc<NodeState>,
    shutdown: watch::Sender<bool>,
    alive: mpsc::Receiver<()>,
    store: PersistentStore,
}

impl Node {
    /// Starts a node on `listener` with `store` (already opened). Must run inside the runtime.
    pub(crate) fn start(
        spec: NodeSpec,
        listener: TcpListener,
        store: PersistentStore,
        shared: Arc<Shared>,
    ) -> std::io::Result<Node> {
        let listen_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel(1);
        if let Some(b) = spec.bootstrap {
            store.store().observe_bootstrap(b);
        }
        let probe_targets = spec.probe_targets.clone();
        let seed = listen_addr.port() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        let state = Arc::new(NodeState {
            spec,
            listen_addr,
            store: store.store().clone(),
            book: Mutex::new(Book::default()),
            link_count: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            wake: Notify::new(),
            rng: AtomicU64::new(seed),
            shared,
            shutdown: shutdown_rx,
            _alive: alive_tx,
        });
        tokio::spawn(accept_loop(state.clone(), listener));
        tokio::spawn(maintain(state.clone()));
        if let Some(targets) = probe_targets {
            tokio::spawn(probe_loop(state.clone(), targets));
        }
        Ok(Node {
            listen_addr,
            state,
            shutdown: shutdown_tx,
            alive: alive_rx,
            store,
        })
    }

    /// Where the node listens.
    pub(crate) fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// Entries its store loaded from its file at open.
    pub(crate) fn loaded(&self) -> usize {
        self.store.load_report().hydrate.loaded
    }

    /// Distinct peers linked now (inbound and outbound).
    pub(crate) fn links(&self) -> usize {
        self.state.link_count.load(Ordering::SeqCst)
    }

    /// Sends one cross-realm HELLO to `addr` and waits for the answer (counted in [`Shared`]).
    pub(crate) async fn probe(&self, addr: SocketAddr) {
        self.state.probe(addr).await
    }

    /// Stops every task of the node (closing its sockets), then closes the store: final save,
    /// flush task stopped, lock released.
    pub(crate) async fn close(self) -> Result<(), knownpeers::Error> {
        let Node {
            state,
            shutdown,
            mut alive,
            store,
            ..
        } = self;
        let _ = shutdown.send(true);
        drop(state);
        // Every task holds an `Arc<NodeState>` and so the only sender: `recv` yields `None` once
        // they have all ended. Each of them waits on the shutdown signal or on a timeout, so the
        // bound below is a safety net, not the expected path.
        let _ = timeout(Duration::from_secs(10), alive.recv()).await;
        store.close().await
    }
}

/// One kept connection to a peer.
#[derive(Debug)]
struct Link {
    conn_id: u64,
    listen_addr: SocketAddr,
    outbound: bool,
    close: Arc<Notify>,
}

/// The node's view of its connections. Guarded by a `std` mutex that is never held across an
/// `.await` and never held while calling into the store (no lock nesting).
#[derive(Debug, Default)]
struct Book {
    /// Kept links by peer node id: at most one per peer.
    links: HashMap<String, Link>,
    /// Addresses with a dial in flight.
    pending: HashSet<SocketAddr>,
    /// Addresses that answered "full", and until when they are left alone.
    cooldown: HashMap<SocketAddr, Instant>,
}

struct NodeState {
    spec: NodeSpec,
    listen_addr: SocketAddr,
    store: PeerStore,
    book: Mutex<Book>,
    /// Mirror of `book.links.len()`, readable without the lock.
    link_count: AtomicUsize,
    next_conn: AtomicU64,
    /// Wakes the dialer early: a dial ended or a link dropped.
    wake: Notify,
    /// SplitMix64 state for jitter and target choice (not security relevant).
    rng: AtomicU64,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    /// Dropped with the last `Arc<NodeState>`: tells [`Node::close`] every task has ended.
    _alive: mpsc::Sender<()>,
}

impl NodeState {
    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock leaves the book consistent (every critical section
        // is a few map operations), so a poisoned lock is still usable.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn random(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn hello(&self, full: bool) -> Hello {
        Hello {
            node_id: self.spec.node_id.clone(),
            realm: self.spec.realm.clone(),
            listen_addr: self.listen_addr,
            capabilities: self.spec.capabilities.clone(),
            full,
        }
    }

    /// Checks a same-realm HELLO received on a connection from `peer_ip`.
    fn check_hello(&self, h: &Hello, peer_ip: IpAddr) -> Result<(), &'static str> {
        if h.node_id.is_empty() || h.node_id == self.spec.node_id {
            return Err("bad node id");
        }
        if h.listen_addr == self.listen_addr || h.listen_addr.port() == 0 {
            return Err("bad listen address");
        }
        // The listen address is what the store records; it must at least be on the host the
        // connection comes from, so a peer cannot plant arbitrary addresses as Connected.
        if h.listen_addr.ip() != peer_ip {
            return Err("listen address is not on the connecting host");
        }
        Ok(())
    }

    /// Keeps a link to `peer_id` if there is room, applying one rule on both ends for duplicate
    /// links (both nodes dialed each other at once): the link dialed by the smaller node id
    /// wins, so both ends keep the same connection. Returns whether the link is kept.
    fn register(
        &self,
        peer_id: &str,
        listen_addr: SocketAddr,
        outbound: bool,
        conn_id: u64,
        close: Arc<Notify>,
    ) -> bool {
        let mut book = self.book();
        let link = Link {
            conn_id,
            listen_addr,
            outbound,
            close,
        };
        if let Some(existing) = book.links.get_mut(peer_id) {
            let preferred_outbound = self.spec.node_id.as_str() < peer_id;
            if outbound == preferred_outbound && existing.outbound != outbound {
                existing.close.notify_one();
                *existing = link;
                return true;
            }
            return false;
        }
        if book.links.len() >= self.spec.max_links {
            return false;
        }
        book.links.insert(peer_id.to_owned(), link);
        self.link_count.store(book.links.len(), Ordering::SeqCst);
        true
    }

    fn unregister(&self, peer_id: &str, conn_id: u64) {
        let mut book = self.book();
        if book.links.get(peer_id).map(|l| l.conn_id) == Some(conn_id) {
            book.links.remove(peer_id);
            self.link_count.store(book.links.len(), Ordering::SeqCst);
            self.wake.notify_one();
        }
    }

    /// What this node tells a peer that asks: its linked peers, then the best of its store.
    fn peer_list(&self, requester: &str) -> Vec<SocketAddr> {
        let (mut out, skip) = {
            let book = self.book();
            let skip = book.links.get(requester).map(|l| l.listen_addr);
            let linked: Vec<SocketAddr> = book
                .links
                .iter()
                .filter(|(id, _)| id.as_str() != requester)
                .map(|(_, l)| l.listen_addr)
                .collect();
            (linked, skip)
        };
        let mut known = self.store.snapshot().to_vec();
        known.sort_by_key(|e| std::cmp::Reverse((e.source, e.last_seen)));
        for e in known {
            if out.len() >= MAX_LIST {
                break;
            }
            if Some(e.addr) != skip && e.addr != self.listen_addr && !out.contains(&e.addr) {
                out.push(e.addr);
            }
        }
        out.truncate(MAX_LIST);
        out
    }

    /// Feeds a PEER_LIST from a same-realm peer to the store as gossip (never our own address).
    fn learn(&self, addrs: &[SocketAddr]) {
        let batch: Vec<GossipPeer> = addrs
            .iter()
            .take(MAX_LIST)
            .filter(|a| **a != self.listen_addr)
            .map(|&addr| GossipPeer {
                addr,
                node_id: None,
                capabilities: Vec::new(),
            })
            .collect();
        if !batch.is_empty() {
            self.store.observe_gossip(&batch);
        }
    }

    /// Starts dials from the store's candidates until links plus dials in flight reach the
    /// degree. Candidates come from `dial_candidates`, which already skips addresses in backoff.
    fn dial_round(self: &Arc<Self>) {
        let (busy, skipped) = {
            let book = self.book();
            let busy = book.links.len() + book.pending.len();
            (busy, busy + book.cooldown.len() + 1)
        };
        let want = self.spec.degree.saturating_sub(busy);
        if want == 0 {
            return;
        }
        // Enough candidates that `want` remain after dropping the ones we skip (linked,
        // pending, cooling down, ourselves): otherwise a node whose first candidates are all
        // full peers would never reach the rest of its store.
        let candidates = self.store.dial_candidates(want + skipped);
        let now = Instant::now();
        let chosen: Vec<SocketAddr> = {
            let mut book = self.book();
            book.cooldown.retain(|_, until| *until > now);
            let linked: HashSet<SocketAddr> = book.links.values().map(|l| l.listen_addr).collect();
            let chosen: Vec<SocketAddr> = candidates
                .into_iter()
                .filter(|a| {
                    *a != self.listen_addr
                        && !linked.contains(a)
                        && !book.pending.contains(a)
                        && !book.cooldown.contains_key(a)
                })
                .take(want)
                .collect();
            book.pending.extend(chosen.iter().copied());
            chosen
        };
        for addr in chosen {
            let guard = PendingGuard {
                state: self.clone(),
                addr,
            };
            tokio::spawn(dial(guard));
        }
    }

    /// Runs a kept link until either end closes it, the duplicate rule replaces it, or the node
    /// shuts down. Both ends ask for peers at once and then every few seconds.
    async fn run_link(
        &self,
        mut stream: TcpStream,
        mut reader: FrameReader,
        peer_id: String,
        conn_id: u64,
        close: Arc<Notify>,
    ) {
        let mut shutdown = self.shutdown.clone();
        let jitter =
            Duration::from_millis(self.random() % (GOSSIP_INTERVAL.as_millis() as u64 / 2));
        let every = GOSSIP_INTERVAL + jitter;
        let mut tick = tokio::time::interval(HUNGRY_GOSSIP_INTERVAL);
        let mut last_request: Option<Instant> = None;
        let (mut rd, mut wr) = stream.split();
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                _ = close.notified() => break,
                _ = tick.tick() => {
                    // The first tick fires at once: every link starts with a PEER_REQUEST.
                    let hungry = self.link_count.load(Ordering::SeqCst) < self.spec.degree;
                    let due = last_request.is_none_or(|t| hungry || t.elapsed() >= every);
                    if due {
                        if !send(&mut wr, &Message::PeerRequest).await {
                            break;
                        }
                        last_request = Some(Instant::now());
                    }
                }
                msg = reader.next(&mut rd) => match msg {
                    Ok(Message::PeerRequest) => {
                        let addrs = self.peer_list(&peer_id);
                        if !send(&mut wr, &Message::PeerList { addrs }).await {
                            break;
                        }
                    }
                    Ok(Message::PeerList { addrs }) => self.learn(&addrs),
                    // A second HELLO, a REFUSE, garbage or EOF ends the link.
                    Ok(Message::Hello(_) | Message::Refuse { .. }) | Err(_) => break,
                },
            }
        }
        self.unregister(&peer_id, conn_id);
    }

    /// One cross-realm HELLO, followed at once by an unasked PEER_LIST of this realm's addresses
    /// (a peer that read it would learn foreign addresses), then the answer.
    async fn probe(&self, addr: SocketAddr) {
        let Ok(_permit) = self.shared.dial_permits.acquire().await else {
            return;
        };
        let Ok(Ok(mut stream)) = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut pushed: Vec<SocketAddr> = {
            let book = self.book();
            book.links.values().map(|l| l.listen_addr).collect()
        };
        pushed.push(self.listen_addr);
        self.shared.probes_sent.fetch_add(1, Ordering::SeqCst);
        let mut reader = FrameReader::default();
        let answer = timeout(HANDSHAKE_TIMEOUT, async {
            write_frame(&mut stream, &Message::Hello(self.hello(false))).await?;
            write_frame(&mut stream, &Message::PeerList { addrs: pushed }).await?;
            reader.next(&mut stream).await
        })
        .await;
        // A REFUSE is counted by the refusing node; a HELLO back is a breach.
        if let Ok(Ok(Message::Hello(_))) = answer {
            self.shared.probes_accepted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Resolves once the node shuts down (or its handle is gone without a close).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; it is dropped here, inside this function.
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Writes one frame on a link with a timeout; false when the link should end.
async fn send<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, msg: &Message) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, write_frame(w, msg)).await,
        Ok(Ok(()))
    )
}

/// Removes a dial's address from `pending` however the dial ends (also when its task is
/// cancelled by the runtime shutting down).
struct PendingGuard {
    state: Arc<NodeState>,
    addr: SocketAddr,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.state.book().pending.remove(&self.addr);
        self.state.wake.notify_one();
    }
}

async fn accept_loop(state: Arc<NodeState>, listener: TcpListener) {
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(inbound(state.clone(), stream, peer));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off briefly instead of spinning.
                    tracing::warn!(node = %state.spec.node_id, error = %e, "accept failed");
                    tokio::select! {
                        _ = stopped(&mut shutdown) => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
}

/// The acceptor's side of a connection.
async fn inbound(state: Arc<NodeState>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::default();
    let hello = match timeout(HANDSHAKE_TIMEOUT, reader.next(&mut stream)).await {
        Ok(Ok(Message::Hello(h))) => h,
        _ => return,
    };
    if hello.realm != state.spec.realm {
        state
            .shared
            .refused_cross_realm
            .fetch_add(1, Ordering::SeqCst);
        let refuse = Message::Refuse {
            reason: format!(
                "realm mismatch: this node serves realm {}",
                state.spec.realm
            ),
        };
        let _ = timeout(HANDSHAKE_TIMEOUT, write_frame(&mut stream, &refuse)).await;
        // Nothing more is read from this connection: whatever it sent after its HELLO (such
        // as a PEER_LIST) is dropped unread with the socket.
        return;
    }
    if let Err(reason) = state.check_hello(&hello, peer.ip()) {
        let refuse = Message::Refuse {
            reason: reason.to_owned(),
        };
        let _ = timeout(HANDSHAKE_TIMEOUT, write_frame(&mut stream, &refuse)).await;
        return;
    }
    // A completed same-realm HELLO: Connected, also when this node is full and will not keep
    // the link. That is what spreads newcomers: a full node's PEER_LIST lists its most recent
    // Connected entries first, so nodes still looking for links learn of each other.
    if state
        .store
        .observe_connected(
            hello.listen_addr,
            Some(hello.node_id.clone()),
            hello.capabilities.clone(),
        )
        .is_err()
    {
        let refuse = Message::Refuse {
            reason: "HELLO metadata over the format's limits".to_owned(),
        };
        let _ = timeout(HANDSHAKE_TIMEOUT, write_frame(&mut stream, &refuse)).await;
        return;
    }
    let close = Arc::new(Notify::new());
    let conn_id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let kept = state.register(
        &hello.node_id,
        hello.listen_addr,
        false,
        conn_id,
        close.clone(),
    );
    if !send(&mut stream, &Message::Hello(state.hello(!kept))).await {
        if kept {
            state.unregister(&hello.node_id, conn_id);
        }
        return;
    }
    if kept {
        state
            .run_link(stream, reader, hello.node_id, conn_id, close)
            .await;
    } else {
        // Full (or already linked): answer one PEER_REQUEST so the dialer learns where else to
        // go, then close.
        let _ = timeout(HANDSHAKE_TIMEOUT, async {
            if let Ok(Message::PeerRequest) = reader.next(&mut stream).await {
                let addrs = state.peer_list(&hello.node_id);
                let _ = write_frame(&mut stream, &Message::PeerList { addrs }).await;
            }
        })
        .await;
    }
}

/// The dialer's side: connect, HELLO exchange, then keep the link or take one PEER_LIST.
async fn dial(guard: PendingGuard) {
    let state = guard.state.clone();
    let addr = guard.addr;
    let mut shutdown = state.shutdown.clone();
    let permit = tokio::select! {
        _ = stopped(&mut shutdown) => return,
        p = state.shared.dial_permits.acquire() => match p {
            Ok(p) => p,
            Err(_) => return,
        },
    };
    let mut stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        _ => {
            state.store.observe_dial_failure(addr);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut reader = FrameReader::default();
    let answer = timeout(HANDSHAKE_TIMEOUT, async {
        write_frame(&mut stream, &Message::Hello(state.hello(false))).await?;
        reader.next(&mut stream).await
    })
    .await;
    let peer = match answer {
        Ok(Ok(Message::Hello(h))) if h.realm == state.spec.realm => h,
        // A REFUSE, another realm, garbage, EOF or a timeout: the dial failed.
        _ => {
            state.store.observe_dial_failure(addr);
            return;
        }
    };
    if peer.node_id.is_empty() || peer.node_id == state.spec.node_id {
        state.store.observe_dial_failure(addr);
        return;
    }
    drop(permit);
    if peer.full {
        // Alive and in our realm, but not taking us: no link, so no Connected observation
        // (that would put it first among our dial candidates); learn its peers and move on.
        state
            .book()
            .cooldown
            .insert(addr, Instant::now() + FULL_COOLDOWN);
        let _ = timeout(HANDSHAKE_TIMEOUT, async {
            write_frame(&mut stream, &Message::PeerRequest).await?;
            if let Message::PeerList { addrs } = reader.next(&mut stream).await? {
                state.learn(&addrs);
            }
            Ok::<(), super::protocol::ProtoError>(())
        })
        .await;
        return;
    }
    let close = Arc::new(Notify::new());
    let conn_id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    if !state.register(&peer.node_id, addr, true, conn_id, close.clone()) {
        return;
    }
    // We reached `addr`, so it is the peer's listen address: that is what the store records.
    if state
        .store
        .observe_connected(addr, Some(peer.node_id.clone()), peer.capabilities.clone())
        .is_err()
    {
        state.unregister(&peer.node_id, conn_id);
        state.store.observe_dial_failure(addr);
        return;
    }
    drop(guard);
    state
        .run_link(stream, reader, peer.node_id, conn_id, close)
        .await;
}

/// Keeps the node at its degree.
async fn maintain(state: Arc<NodeState>) {
    let mut shutdown = state.shutdown.clone();
    loop {
        state.dial_round();
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(DIAL_TICK) => {}
            _ = state.wake.notified() => {}
        }
        tokio::time::sleep(DIAL_MIN_GAP).await;
    }
}

/// An other-realm node's background attempts: a cross-realm HELLO to a random main-realm node
/// every [`PROBE_INTERVAL`] while targets are set.
async fn probe_loop(state: Arc<NodeState>, targets: watch::Receiver<Vec<SocketAddr>>) {
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
        let target = {
            let t = targets.borrow();
            if t.is_empty() {
                continue;
            }
            t[(state.random() % t.len() as u64) as usize]
        };
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            _ = state.probe(target) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knownpeers::{ManualClock, StoreConfig};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn state(id: &str, port: u16, max_links: usize) -> NodeState {
        let (_tx, shutdown) = watch::channel(false);
        let (alive, _rx) = mpsc::channel(1);
        NodeState {
            spec: NodeSpec {
                node_id: id.to_owned(),
                realm: "demo-main".to_owned(),
                degree: 2,
                max_links,
                capabilities: vec![],
                bootstrap: None,
                probe_targets: None,
            },
            listen_addr: addr(port),
            store: PeerStore::new(
                StoreConfig::default(),
                Arc::new(ManualClock::at_secs(1_764_000_000)),
            ),
            book: Mutex::new(Book::default()),
            link_count: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            wake: Notify::new(),
            rng: AtomicU64::new(1),
            shared: Arc::new(Shared::new(1)),
            shutdown,
            _alive: alive,
        }
    }

    fn kept(s: &NodeState, peer: &str) -> Option<(u64, bool)> {
        s.book().links.get(peer).map(|l| (l.conn_id, l.outbound))
    }

    /// Both nodes dialed each other (conn 1: a dials b, conn 2: b dials a); each end registers
    /// its two connections in the order given. Both ends must keep conn 1 (dialed by "a", the
    /// smaller id), whatever the order.
    fn check_duplicate(a_order: [u64; 2], b_order: [u64; 2]) {
        let a = state("a", 1, 8);
        let b = state("b", 2, 8);
        for conn in a_order {
            // On a, conn 1 is outbound and conn 2 inbound.
            a.register("b", addr(2), conn == 1, conn, Arc::new(Notify::new()));
        }
        for conn in b_order {
            b.register("a", addr(1), conn == 2, conn, Arc::new(Notify::new()));
        }
        assert_eq!(kept(&a, "b"), Some((1, true)), "a, order {a_order:?}");
        assert_eq!(kept(&b, "a"), Some((1, false)), "b, order {b_order:?}");
        assert_eq!(a.link_count.load(Ordering::SeqCst), 1);
        assert_eq!(b.link_count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn duplicate_links_resolve_the_same_way_on_both_ends() {
        check_duplicate([1, 2], [1, 2]);
        check_duplicate([1, 2], [2, 1]);
        check_duplicate([2, 1], [1, 2]);
        check_duplicate([2, 1], [2, 1]);
    }

    #[test]
    fn replaced_link_is_told_to_close_and_its_end_does_not_unregister_the_winner() {
        let a = state("a", 1, 8);
        let loser = Arc::new(Notify::new());
        assert!(a.register("b", addr(2), false, 2, loser.clone()));
        assert!(a.register("b", addr(2), true, 1, Arc::new(Notify::new())));
        // The permit stored by `notify_one` is what ends the loser's `run_link`.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let notified =
            rt.block_on(async { timeout(Duration::from_secs(5), loser.notified()).await });
        assert!(notified.is_ok(), "the replaced link was told to close");
        a.unregister("b", 2);
        assert_eq!(kept(&a, "b"), Some((1, true)));
        a.unregister("b", 1);
        assert_eq!(kept(&a, "b"), None);
        assert_eq!(a.link_count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn capacity_bounds_links() {
        let a = state("a", 1, 2);
        let reg = |peer: &str, port, conn| {
            a.register(peer, addr(port), false, conn, Arc::new(Notify::new()))
        };
        assert!(reg("b", 2, 1));
        assert!(reg("c", 3, 2));
        assert!(!reg("d", 4, 3), "full at max_links");
        assert!(!reg("b", 2, 4), "a second inbound link from b is refused");
        a.unregister("c", 2);
        assert!(reg("d", 4, 5));
        assert_eq!(a.link_count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn hello_checks() {
        let a = state("a", 1, 2);
        let hello = |id: &str, listen: SocketAddr| Hello {
            node_id: id.to_owned(),
            realm: "demo-main".to_owned(),
            listen_addr: listen,
            capabilities: vec![],
            full: false,
        };
        let lo: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        assert_eq!(a.check_hello(&hello("b", addr(2)), lo), Ok(()));
        assert_eq!(a.check_hello(&hello("", addr(2)), lo), Err("bad node id"));
        assert_eq!(a.check_hello(&hello("a", addr(2)), lo), Err("bad node id"));
        assert_eq!(
            a.check_hello(&hello("b", addr(1)), lo),
            Err("bad listen address")
        );
        assert_eq!(
            a.check_hello(&hello("b", addr(0)), lo),
            Err("bad listen address")
        );
        assert_eq!(
            a.check_hello(&hello("b", addr(2)), other),
            Err("listen address is not on the connecting host")
        );
    }

    #[test]
    fn peer_lists_and_learning() {
        let a = state("a", 1, 8);
        a.register("b", addr(2), true, 1, Arc::new(Notify::new()));
        a.register("c", addr(3), false, 2, Arc::new(Notify::new()));
        let gossip: Vec<SocketAddr> = (1..200).map(addr).collect();
        a.learn(&gossip);
        // Our own address (port 1) is never stored; one batch is cut at MAX_LIST.
        assert!(a.store.get(&addr(1)).is_none());
        assert_eq!(a.store.len(), MAX_LIST - 1);
        a.learn(&gossip[MAX_LIST..]);
        assert_eq!(a.store.len(), 2 * MAX_LIST - 1);
        let list = a.peer_list("b");
        assert_eq!(list.len(), MAX_LIST);
        assert_eq!(list[0], addr(3), "linked peers come first");
        assert!(!list.contains(&addr(2)), "the requester is not sent itself");
        assert!(!list.contains(&addr(1)), "nor our own address");
    }
}
