/**
 * The hash chain (README.md): chaining events (seq, prev_hash, hash), signed Merkle
 * checkpoints and their anchors, inclusion proofs, and verify.
 */
export { ChainWriter, riskChainId, riskChainIds, RISK_LEVELS, type ChainHead } from './chain-writer.ts';
export { canonicalEventJson, chainRowParts, encodeChainedRow, encodeRowParts, eventHash, eventHashV1, eventHashV2, GENESIS_HASH, HASH_DOMAIN, HASH_DOMAIN_V2, HASH_V2_COLUMNS, HASH_VERSION } from './canonical.ts';
export {
  eventLeafHash,
  exportPublicKeyPem,
  keyId,
  loadOrCreateSigningKey,
  loadPublicKey,
  signCheckpoint,
  verifyCheckpointSignature,
  type Checkpoint,
  type SigningKey,
} from './checkpoint.ts';
export { Checkpointer, tableCheckpoints, type CheckpointConfig, type CheckpointerStatus, type MerkleWorker } from './checkpointer.ts';
export { appendEventHashes, consistencyProofHex, type AppendedLeaves } from './leaves.ts';
export { inclusionProof, MerkleAccumulator, rootFromLeafHashes, verifyConsistency, verifyInclusion, type MerkleAccumulatorState } from './merkle.ts';
export { ANCHOR_FORMAT, anchorFileName, DirectoryAnchorSink, type AnchorRecord, type AnchorSink } from './anchor.ts';
export { buildInclusionBundle, proveStoredEvent, NotCoveredError, ProofUnavailableError } from './prove.ts';
export { chainRows, storedChainHead, streamRows, type ChainRowsQuery } from './source.ts';
export { combineReports, formatReport, scanContent, verifyChain, FINDING_KINDS, type Finding, type VerifyReport } from './verify.ts';
export { instanceChains, verifyStoredChain, type StoredChainVerifyOptions } from './verify-store.ts';
