// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title CheckpointAnchor: transparency-log checkpoints written on chain.
/// @notice One append-only line of (tree size, root hash) per log key, growing strictly in
/// size. The log key is the SHA-256 of the log's C2SP note verifier key (name, 0x01, Ed25519
/// public key), so the key ID in the log's signed notes is its first four bytes. The first
/// address to anchor a log key becomes its submitter; only the submitter anchors it from then
/// on (or hands the role on), so nobody else can block a log by anchoring a large made-up size.
/// The signed checkpoint note travels in the event: anyone can check the log's own signature
/// on what was anchored, without trusting the submitter.
contract CheckpointAnchor {
    struct Head {
        uint64 size;
        bytes32 root;
        uint64 blockNumber;
    }

    struct Anchor {
        bytes32 root;
        uint64 blockNumber;
    }

    mapping(bytes32 => address) public submitterOf;
    mapping(bytes32 => Head) private heads;
    mapping(bytes32 => mapping(uint64 => Anchor)) private anchors;

    /// @notice The log `logKey` had `root` at `size`; `note` is its signed checkpoint.
    event Anchored(
        bytes32 indexed logKey, uint64 indexed size, bytes32 root, string origin, bytes note, address submitter
    );
    /// @notice Who may anchor `logKey` changed (from zero: the first anchor claimed it).
    event SubmitterChanged(bytes32 indexed logKey, address indexed from, address indexed to);

    /// @notice `logKey` is anchored by `submitter` only.
    error NotSubmitter(bytes32 logKey, address submitter);
    /// @notice A checkpoint must be larger than the one anchored (`anchoredSize`) for its log.
    error NotGrowing(bytes32 logKey, uint64 anchoredSize, uint64 size);
    /// @notice An empty tree has nothing to anchor.
    error EmptyTree(bytes32 logKey);
    /// @notice The submitter role cannot be handed to the zero address.
    error ZeroSubmitter(bytes32 logKey);

    /// @notice Anchors the checkpoint (`origin`, `size`, `root`) of log `logKey`; `note` is the
    /// signed checkpoint it comes from.
    function anchor(bytes32 logKey, string calldata origin, uint64 size, bytes32 root, bytes calldata note)
        external
    {
        address submitter = submitterOf[logKey];
        if (submitter == address(0)) {
            submitterOf[logKey] = msg.sender;
            emit SubmitterChanged(logKey, address(0), msg.sender);
        } else if (submitter != msg.sender) {
            revert NotSubmitter(logKey, submitter);
        }
        if (size == 0) revert EmptyTree(logKey);
        Head storage head = heads[logKey];
        if (size <= head.size) revert NotGrowing(logKey, head.size, size);
        uint64 blockNumber = uint64(block.number);
        heads[logKey] = Head(size, root, blockNumber);
        anchors[logKey][size] = Anchor(root, blockNumber);
        emit Anchored(logKey, size, root, origin, note, msg.sender);
    }

    /// @notice Hands the right to anchor `logKey` to `to`; only the current submitter may.
    function setSubmitter(bytes32 logKey, address to) external {
        address submitter = submitterOf[logKey];
        if (submitter != msg.sender) revert NotSubmitter(logKey, submitter);
        if (to == address(0)) revert ZeroSubmitter(logKey);
        submitterOf[logKey] = to;
        emit SubmitterChanged(logKey, msg.sender, to);
    }

    /// @notice The largest anchored checkpoint of `logKey` (size zero when none).
    function latest(bytes32 logKey) external view returns (uint64 size, bytes32 root, uint64 blockNumber) {
        Head storage head = heads[logKey];
        return (head.size, head.root, head.blockNumber);
    }

    /// @notice The root anchored for `logKey` at exactly `size`, and its block (zeros when none).
    function anchoredAt(bytes32 logKey, uint64 size) external view returns (bytes32 root, uint64 blockNumber) {
        Anchor storage a = anchors[logKey][size];
        return (a.root, a.blockNumber);
    }
}
