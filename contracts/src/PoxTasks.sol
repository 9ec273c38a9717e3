// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title PoxTasks: the Proof-of-eXecution task workflow of seed 002 as transactions.
/// @notice A data owner submits a task (the algorithm's and datasets' digests, the digest of the
/// signed poex job request, free metadata and two deadlines); a processor advertises its
/// resources; either side matches the task with an offer; the other side (the counterparty)
/// approves; the matched processor submits the result (result digests, the digest of the signed
/// receipt, and the log checkpoint that includes it). Every step is a transaction with an event,
/// and its rule is checked here. Deadlines keep anything from being stuck: a task not matched and
/// approved by `matchBy`, or approved but without a result by `resultBy`, can be expired by
/// anyone, and the owner can cancel until approval.
contract PoxTasks {
    enum Status {
        None,
        Open,
        Matched,
        Approved,
        Done,
        Cancelled,
        Expired
    }

    struct Task {
        address owner;
        bytes32 algorithm;
        bytes32 request;
        bytes32[] datasets;
        string metadata;
        uint64 matchBy;
        uint64 resultBy;
        Status status;
        uint256 offer;
        address processor;
        address matchedBy;
        bytes32[] results;
        bytes32 receipt;
        bytes32 logKey;
        uint64 treeSize;
        bytes32 root;
    }

    struct Offer {
        address processor;
        string resources;
        uint64 validUntil;
        bool withdrawn;
    }

    /// @notice At most this many datasets or results per task (keeps every call's gas bounded).
    uint256 public constant MAX_ITEMS = 64;

    uint256 public taskCount;
    uint256 public offerCount;
    mapping(uint256 => Task) private tasks;
    mapping(uint256 => Offer) private offers;

    event TaskSubmitted(
        uint256 indexed task,
        address indexed owner,
        bytes32 algorithm,
        bytes32 request,
        bytes32[] datasets,
        string metadata,
        uint64 matchBy,
        uint64 resultBy
    );
    event OfferAdvertised(uint256 indexed offer, address indexed processor, string resources, uint64 validUntil);
    event OfferWithdrawn(uint256 indexed offer);
    event TaskMatched(uint256 indexed task, uint256 indexed offer, address indexed processor, address matchedBy);
    event TaskApproved(uint256 indexed task, address indexed approver);
    event ResultSubmitted(
        uint256 indexed task,
        address indexed processor,
        bytes32[] results,
        bytes32 receipt,
        bytes32 logKey,
        uint64 treeSize,
        bytes32 root
    );
    event TaskCancelled(uint256 indexed task);
    event TaskExpired(uint256 indexed task, Status was);

    error UnknownTask(uint256 task);
    error UnknownOffer(uint256 offer);
    error WrongStatus(uint256 task, Status status);
    error NotAllowed(uint256 task, address caller);
    error NotOfferProcessor(uint256 offer, address caller);
    error OfferUnavailable(uint256 offer);
    error DeadlinePassed(uint256 task, uint64 deadline);
    error DeadlineNotPassed(uint256 task, uint64 deadline);
    error BadDeadlines(uint64 matchBy, uint64 resultBy);
    error TooManyItems(uint256 count);
    error EmptyResult(uint256 task);

    /// @notice The data owner describes a task; returns its id (ids start at 1).
    function submitTask(
        bytes32 algorithm,
        bytes32[] calldata datasets,
        bytes32 request,
        string calldata metadata,
        uint64 matchBy,
        uint64 resultBy
    ) external returns (uint256 id) {
        if (matchBy <= block.timestamp || resultBy <= matchBy) revert BadDeadlines(matchBy, resultBy);
        if (datasets.length > MAX_ITEMS) revert TooManyItems(datasets.length);
        id = ++taskCount;
        Task storage t = tasks[id];
        t.owner = msg.sender;
        t.algorithm = algorithm;
        t.request = request;
        t.datasets = datasets;
        t.metadata = metadata;
        t.matchBy = matchBy;
        t.resultBy = resultBy;
        t.status = Status.Open;
        emit TaskSubmitted(id, msg.sender, algorithm, request, datasets, metadata, matchBy, resultBy);
    }

    /// @notice A processor advertises its resources until `validUntil`; returns the offer id.
    function advertise(string calldata resources, uint64 validUntil) external returns (uint256 id) {
        if (validUntil <= block.timestamp) revert BadDeadlines(validUntil, validUntil);
        id = ++offerCount;
        offers[id] = Offer(msg.sender, resources, validUntil, false);
        emit OfferAdvertised(id, msg.sender, resources, validUntil);
    }

    /// @notice The processor takes its offer back; tasks already matched keep it.
    function withdrawOffer(uint256 offer) external {
        Offer storage o = offers[offer];
        if (o.processor == address(0)) revert UnknownOffer(offer);
        if (o.processor != msg.sender) revert NotOfferProcessor(offer, msg.sender);
        o.withdrawn = true;
        emit OfferWithdrawn(offer);
    }

    /// @notice Matches an open task with a live offer; the task's owner or the offer's processor
    /// may, and the other one then approves.
    function matchTask(uint256 task, uint256 offer) external {
        Task storage t = openTask(task, Status.Open);
        Offer storage o = offers[offer];
        if (o.processor == address(0)) revert UnknownOffer(offer);
        if (o.withdrawn || o.validUntil < block.timestamp) revert OfferUnavailable(offer);
        if (msg.sender != t.owner && msg.sender != o.processor) revert NotAllowed(task, msg.sender);
        if (block.timestamp > t.matchBy) revert DeadlinePassed(task, t.matchBy);
        t.status = Status.Matched;
        t.offer = offer;
        t.processor = o.processor;
        t.matchedBy = msg.sender;
        emit TaskMatched(task, offer, o.processor, msg.sender);
    }

    /// @notice The counterparty of whoever matched approves the task for execution.
    function approve(uint256 task) external {
        Task storage t = openTask(task, Status.Matched);
        address counterparty = t.matchedBy == t.owner ? t.processor : t.owner;
        if (msg.sender != counterparty) revert NotAllowed(task, msg.sender);
        if (block.timestamp > t.matchBy) revert DeadlinePassed(task, t.matchBy);
        t.status = Status.Approved;
        emit TaskApproved(task, msg.sender);
    }

    /// @notice The matched processor reports the result of an approved task.
    function submitResult(
        uint256 task,
        bytes32[] calldata results,
        bytes32 receipt,
        bytes32 logKey,
        uint64 treeSize,
        bytes32 root
    ) external {
        Task storage t = openTask(task, Status.Approved);
        if (msg.sender != t.processor) revert NotAllowed(task, msg.sender);
        if (block.timestamp > t.resultBy) revert DeadlinePassed(task, t.resultBy);
        if (receipt == bytes32(0) || treeSize == 0) revert EmptyResult(task);
        if (results.length > MAX_ITEMS) revert TooManyItems(results.length);
        t.status = Status.Done;
        t.results = results;
        t.receipt = receipt;
        t.logKey = logKey;
        t.treeSize = treeSize;
        t.root = root;
        emit ResultSubmitted(task, msg.sender, results, receipt, logKey, treeSize, root);
    }

    /// @notice The owner withdraws a task that is not approved yet.
    function cancel(uint256 task) external {
        Task storage t = tasks[task];
        if (t.status == Status.None) revert UnknownTask(task);
        if (msg.sender != t.owner) revert NotAllowed(task, msg.sender);
        if (t.status != Status.Open && t.status != Status.Matched) revert WrongStatus(task, t.status);
        t.status = Status.Cancelled;
        emit TaskCancelled(task);
    }

    /// @notice Anyone ends a task whose deadline passed: not approved by `matchBy`, or approved
    /// without a result by `resultBy`.
    function expire(uint256 task) external {
        Task storage t = tasks[task];
        Status was = t.status;
        if (was == Status.None) revert UnknownTask(task);
        uint64 deadline;
        if (was == Status.Open || was == Status.Matched) {
            deadline = t.matchBy;
        } else if (was == Status.Approved) {
            deadline = t.resultBy;
        } else {
            revert WrongStatus(task, was);
        }
        if (block.timestamp <= deadline) revert DeadlineNotPassed(task, deadline);
        t.status = Status.Expired;
        emit TaskExpired(task, was);
    }

    function getTask(uint256 task) external view returns (Task memory) {
        if (tasks[task].status == Status.None) revert UnknownTask(task);
        return tasks[task];
    }

    function getOffer(uint256 offer) external view returns (Offer memory) {
        if (offers[offer].processor == address(0)) revert UnknownOffer(offer);
        return offers[offer];
    }

    function openTask(uint256 task, Status want) private view returns (Task storage t) {
        t = tasks[task];
        if (t.status == Status.None) revert UnknownTask(task);
        if (t.status != want) revert WrongStatus(task, t.status);
    }
}
