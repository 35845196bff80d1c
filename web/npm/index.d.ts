// Types of miniledger-web (see web/README.md).

export interface ConnectOptions {
  /**
   * The trust root, one of: the network's genesis document (JSON text, as a node's
   * `GET /genesis` serves it), checked against `genesisHash` when given; the node then follows
   * the validator set through governance itself, verifying every change.
   */
  genesis?: string;
  /** The expected hash of `genesis` (refused if it differs: another network). */
  genesisHash?: string;
  /** Or a fixed trust root: public keys (64 lowercase hex) whose blocks are accepted. */
  validators?: string[];
  /** Full nodes kept connected at once (default 4). */
  maxPeers?: number;
  /** Verified blocks kept for getBlock (default 256, and at most ~8 MiB). */
  recentBlocks?: number;
  /** orgId announced in the handshake (default "light"). */
  orgId?: string;
  /** Longest verification slice in the worker before it yields (default 40 ms). */
  sliceMs?: number;
  /** Where the worker script is (default: worker.js next to index.js). */
  workerUrl?: string | URL;
  /** Where the .wasm is (default: wasm/miniledger_web_bg.wasm next to the glue). */
  wasmUrl?: string | URL;
}

export interface Tip { height: number; hash: string; timestamp: number }

export interface Peer {
  nodeId: string;
  publicKey: string;
  orgId: string;
  /** P2P address (ws://host:port) of the full node. */
  address: string | null;
  /** The height it last claimed. */
  height: number;
  connectedAt: number;
  /** Sync skips it for now (it timed out or served a block that failed verification). */
  abandoned: boolean;
}

export interface Stats { blocksVerified: number; txsVerified: number; blocksRejected: number }

export interface BlockEvent {
  height: number;
  hash: string;
  previousHash: string;
  timestamp: number;
  proposer: string;
  txCount: number;
  /** nodeId of the peer that served it. */
  peer: string;
  source: 'sync' | 'announce';
  verified: boolean;
  /** The broken rule when rejected, e.g. "tx.signature". */
  rule: string | null;
  /** The full reason when rejected. */
  reason: string | null;
  /** Time spent verifying it, in the worker. */
  verifyMs: number;
}

export type PeerEvent =
  | ({ event: 'connected' } & Peer)
  | { event: 'disconnected'; nodeId: string; reason: string };

export interface SyncEvent { height: number; target: number }

export interface Transaction {
  hash: string;
  type: string;
  sender: string;
  nonce: number;
  timestamp: number;
  payload: { kind: string; [field: string]: unknown };
  signature: string;
}

export type TxEvent =
  | { status: 'pending'; hash: string; transaction: Transaction }
  | { status: 'committed'; hash: string; height: number; blockHash: string };

export interface ErrorEvent { message: string }

export interface Block {
  height: number;
  hash: string;
  previousHash: string;
  timestamp: number;
  merkleRoot: string;
  stateRoot: string;
  proposer: string;
  signature: string;
  transactions: Transaction[];
}

export interface BlockCheck {
  ok: boolean;
  /** The broken rule when not ok (e.g. "block.signature", "decode"). */
  rule?: string | null;
  reason?: string | null;
  /** "same": the block this node verified at that height; "different"; "unknown": older than its recent window; "ahead": past its tip. */
  chain?: 'same' | 'different' | 'unknown' | 'ahead';
}

export interface ProofCheck { ok: boolean; rule?: string; reason?: string }

export type TxInput =
  | { key: string; value: unknown }
  | { kind: string; [field: string]: unknown };

export interface Submitted {
  hash: string;
  nonce: number;
  transaction: Transaction;
  /** Resolves when a verified block holds the transaction. */
  committed: Promise<{ height: number; blockHash: string }>;
}

export interface LightNodeEvents {
  block: BlockEvent;
  peer: PeerEvent;
  sync: SyncEvent;
  tx: TxEvent;
  error: ErrorEvent;
}

export declare class LightNode extends EventTarget {
  /** Starts a light node in a Web Worker and dials `urls` (full nodes' P2P WebSocket addresses). */
  static connect(urls: string | string[], options: ConnectOptions): Promise<LightNode>;
  /**
   * Starts the worker and compiles the wasm ahead of `connect`, which then uses them. `worker`
   * (a Worker already running this package's worker.js) and `module` (a promise of the compiled
   * wasm, or undefined to have the worker fetch it) adopt ones a page started even earlier.
   */
  static preload(options?: Pick<ConnectOptions, 'workerUrl' | 'wasmUrl'> & { worker?: Worker; module?: Promise<WebAssembly.Module | undefined> }): Promise<void>;
  /** Adds a listener receiving the event's detail; returns the node. */
  on<K extends keyof LightNodeEvents>(type: K, listener: (detail: LightNodeEvents[K]) => void): this;
  readonly height: number;
  readonly target: number;
  readonly tip: Tip;
  readonly peers: Peer[];
  readonly stats: Stats;
  readonly validators: string[];
  readonly publicKey: string;
  readonly nodeId: string;
  getBlock(height: number): Promise<Block | null>;
  /** The newest `limit` (default 10) transactions of the recent window, newest first, each with its block height. */
  recentTransactions(limit?: number): Promise<Array<Transaction & { blockHeight: number }>>;
  /** Verifies a block fetched elsewhere (every rule but linkage; `chain` says how it relates to this node's chain). */
  checkBlock(block: Block): Promise<BlockCheck>;
  /** Checks a state proof of `entry` (null: absent) for `key` under `root` (a verified block's stateRoot). */
  checkStateProof(root: string, key: string, entry: { value: unknown; version: number } | null, proof: string): Promise<ProofCheck>;
  submit(tx: TxInput): Promise<Submitted>;
  addPeer(url: string): Promise<void>;
  close(): Promise<void>;
}
