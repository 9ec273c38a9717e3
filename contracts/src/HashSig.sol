// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title HashSig: a write-once registry of content digests.
/// @notice The registry of seed 001 §7.1 (`addSig(name, hash)` / `getSig(name)`, the same
/// function selectors), with each entry's owner and block recorded and an event per entry.
/// Differences from the seed, on purpose: a second `addSig` for a name reverts with
/// `AlreadyRegistered` instead of returning false (a sender of a transaction never sees a
/// returned false, only `eth_call` does), and a zero hash is refused (zero means "absent").
/// There is no administrator: nobody, the deployer included, can change or remove an entry.
contract HashSig {
    struct Entry {
        bytes32 hash;
        address owner;
        uint64 blockNumber;
    }

    mapping(bytes32 => Entry) private entries;

    /// @notice `name` now maps to `hash`, for good; `owner` sent the transaction.
    event SigAdded(bytes32 indexed name, bytes32 hash, address indexed owner);

    /// @notice `name` is taken: it maps to `hash`, registered by `owner`.
    error AlreadyRegistered(bytes32 name, bytes32 hash, address owner);
    /// @notice A zero hash cannot be registered: `getSig` answers zero for "not registered".
    error ZeroHash(bytes32 name);

    /// @notice Registers `hash` under `name`; reverts if `name` already has a hash.
    function addSig(bytes32 name, bytes32 hash) external returns (bool) {
        if (hash == bytes32(0)) revert ZeroHash(name);
        Entry storage e = entries[name];
        if (e.hash != bytes32(0)) revert AlreadyRegistered(name, e.hash, e.owner);
        entries[name] = Entry(hash, msg.sender, uint64(block.number));
        emit SigAdded(name, hash, msg.sender);
        return true;
    }

    /// @notice The hash registered under `name`, or zero when there is none.
    function getSig(bytes32 name) external view returns (bytes32) {
        return entries[name].hash;
    }

    /// @notice The whole entry: hash (zero when absent), owner and the block it was added in.
    function getEntry(bytes32 name) external view returns (bytes32 hash, address owner, uint64 blockNumber) {
        Entry storage e = entries[name];
        return (e.hash, e.owner, e.blockNumber);
    }
}
