# pragma version 0.4.3
"""
@title edgeorch SLA ledger
@notice Agreements between an infrastructure provider and a pseudonymous consumer, the QoS breaches
        of their objectives and the migrations and resizes they caused. Storage holds only what the contract checks
        (status, version, validity, comparators and thresholds, a seen-bitmap of breach windows and
        per-severity counters); events carry the rest. No personal data: consumer, provider and workload
        are hashes, sites are infrastructure names.
@dev Roles are bits of `roles[account]`: ADMIN grants and revokes roles, OPERATOR creates, amends and
     terminates agreements and records migrations and resizes, ORACLE is the only writer of breaches. The provider
     account of an agreement (optional) may accept its current version. Every version carries a
     revision (the SLA object's generation) that only grows: a late replay of an older amendment
     reverts instead of rolling the terms back.
"""

ROLE_ADMIN: constant(uint256) = 1
ROLE_OPERATOR: constant(uint256) = 2
ROLE_ORACLE: constant(uint256) = 4
ROLE_ALL: constant(uint256) = 7

STATUS_NONE: constant(uint256) = 0
STATUS_ACTIVE: constant(uint256) = 1
STATUS_TERMINATED: constant(uint256) = 2

# comparator of a good value against the threshold
CMP_LT: constant(uint8) = 0
CMP_LE: constant(uint8) = 1
CMP_GT: constant(uint8) = 2
CMP_GE: constant(uint8) = 3

# severity: 0 warning, 1 mild, 2 serious, 3 severe, 4 catastrophic
SEVERITIES: constant(uint8) = 5
MAX_OBJECTIVES: constant(uint256) = 16
MAX_BATCH: constant(uint256) = 64
OBJ_BITS: constant(uint256) = 64
OBJ_MASK: constant(uint256) = 2**64 - 1
COUNT_BITS: constant(uint256) = 40
COUNT_MASK: constant(uint256) = 2**40 - 1
BIAS: constant(int256) = 2**61
MAX_TIME: constant(uint64) = 2**40 - 1
TIME_MASK: constant(uint256) = 2**40 - 1
ADDRESS_MASK: constant(uint256) = 2**160 - 1

struct Objective:
    metric_id: bytes32
    comparator: uint8
    threshold: int64
    window: uint32

struct BreachInput:
    agreement_id: bytes32
    objective: uint8
    severity: uint8
    observed: int64
    window_start: uint64
    window_end: uint64
    evidence_hash: bytes32

event RoleGranted:
    account: indexed(address)
    role: uint256
    sender: indexed(address)

event RoleRevoked:
    account: indexed(address)
    role: uint256
    sender: indexed(address)

event AgreementCreated:
    agreement_id: indexed(bytes32)
    provider_ref: indexed(bytes32)
    provider_account: address
    consumer_ref: bytes32
    terms_hash: bytes32
    valid_from: uint64
    valid_until: uint64
    version: uint16
    objectives: DynArray[Objective, MAX_OBJECTIVES]
    revision: uint64

event AgreementAmended:
    agreement_id: indexed(bytes32)
    version: indexed(uint16)
    terms_hash: bytes32
    valid_from: uint64
    valid_until: uint64
    objectives: DynArray[Objective, MAX_OBJECTIVES]
    revision: uint64

event AgreementTerminated:
    agreement_id: indexed(bytes32)
    version: uint16

event AgreementAccepted:
    agreement_id: indexed(bytes32)
    provider_account: indexed(address)
    version: uint16

event BreachRecorded:
    breach_id: indexed(bytes32)
    agreement_id: indexed(bytes32)
    severity: indexed(uint8)
    objective: uint8
    observed: int64
    window_start: uint64
    window_end: uint64
    evidence_hash: bytes32
    version: uint16

event MigrationRecorded:
    migration_id: indexed(bytes32)
    agreement_id: indexed(bytes32)
    breach_id: indexed(bytes32)
    workload_ref: bytes32
    from_site: String[64]
    to_site: String[64]

event ResizeRecorded:
    resize_id: indexed(bytes32)
    agreement_id: indexed(bytes32)
    breach_id: indexed(bytes32)
    workload_ref: bytes32
    seq: uint32
    cpu_m: uint32
    replicas: uint16
    up: bool
    moved: uint16

roles: public(HashMap[address, uint256])
# valid_from (40) | breach count per severity (40 bits each, warning first) | migration count (16) at bit 240
_head: HashMap[bytes32, uint256]
# provider account that may accept the agreement (160 bits, optional) | revision of the current version
# (64 bits at bit 160; a revision of 0 or 1 is stored as 0 and read as 1); the slot is written only
# when it holds something, so an agreement created at revision 1 without a provider costs no SSTORE
_party: HashMap[bytes32, uint256]
_terms: HashMap[bytes32, bytes32]
# status (2) | accepted (1) | objective count (5) | version (16) | valid_until (40) | objectives 0..2
# (64 bits each: comparator 2 | threshold + 2**61 62): everything a breach check reads, in one slot
_state: HashMap[bytes32, uint256]
# objectives 3 + 4(k-1) .. 3 + 4(k-1) + 3 for k >= 1, 64 bits each
_more_objectives: HashMap[bytes32, HashMap[uint256, uint256]]
# keccak(agreement, objective, window_start >> 8) -> bit (window_start & 255) set when recorded
_seen_windows: HashMap[bytes32, uint256]
_migrations: HashMap[bytes32, bool]
_resizes: HashMap[bytes32, bool]


@deploy
def __init__(operator: address, oracle: address):
    self._grant(msg.sender, ROLE_ADMIN)
    if operator != empty(address):
        self._grant(operator, ROLE_OPERATOR)
    if oracle != empty(address):
        self._grant(oracle, ROLE_ORACLE)


# -- roles --------------------------------------------------------------------------------------------

@internal
def _grant(account: address, role: uint256):
    self.roles[account] = self.roles[account] | role
    log RoleGranted(account=account, role=role, sender=msg.sender)


@internal
@view
def _only(role: uint256):
    assert self.roles[msg.sender] & role != 0, "caller lacks role"


@external
def grant_role(account: address, role: uint256):
    self._only(ROLE_ADMIN)
    assert account != empty(address), "account: zero address"
    assert role != 0 and role & ROLE_ALL == role, "role: unknown"
    self._grant(account, role)


@external
def revoke_role(account: address, role: uint256):
    self._only(ROLE_ADMIN)
    assert role != 0 and role & ROLE_ALL == role, "role: unknown"
    assert not (account == msg.sender and role & ROLE_ADMIN != 0), "admin cannot revoke own admin role"
    self.roles[account] = self.roles[account] & (ROLE_ALL ^ role)
    log RoleRevoked(account=account, role=role, sender=msg.sender)


@external
@view
def has_role(account: address, role: uint256) -> bool:
    return self.roles[account] & role == role


# -- agreements ---------------------------------------------------------------------------------------

@internal
@pure
def _pack_objective(o: Objective) -> uint256:
    assert o.comparator <= CMP_GE, "objective.comparator: unknown"
    assert o.window > 0, "objective.window: must be positive"
    t: int256 = convert(o.threshold, int256)
    assert t >= -BIAS and t < BIAS, "objective.threshold: out of range"
    return convert(o.comparator, uint256) | (convert(t + BIAS, uint256) << 2)


@internal
def _store_terms(agreement_id: bytes32, terms_hash: bytes32, valid_from: uint64, valid_until: uint64,
                 objectives: DynArray[Objective, MAX_OBJECTIVES], version: uint256):
    assert terms_hash != empty(bytes32), "terms_hash: empty"
    assert valid_until > valid_from, "validity: end must be after start"
    assert valid_until <= MAX_TIME, "validity: end out of range"
    n: uint256 = len(objectives)
    assert n > 0, "objectives: empty"
    # keep the counters, replace valid_from
    self._head[agreement_id] = (self._head[agreement_id] >> 40 << 40) | convert(valid_from, uint256)
    self._terms[agreement_id] = terms_hash
    state: uint256 = STATUS_ACTIVE | (n << 3) | (version << 8) | (convert(valid_until, uint256) << 24)
    slot: uint256 = 0
    for i: uint256 in range(MAX_OBJECTIVES):
        if i >= n:
            break
        packed: uint256 = self._pack_objective(objectives[i])
        if i < 3:
            state = state | (packed << (64 + OBJ_BITS * i))
        else:
            slot = slot | (packed << (OBJ_BITS * ((i - 3) % 4)))
            if (i - 3) % 4 == 3 or i == n - 1:
                self._more_objectives[agreement_id][(i - 3) // 4 + 1] = slot
                slot = 0
    self._state[agreement_id] = state


@external
def create_agreement(agreement_id: bytes32, provider_ref: bytes32, provider_account: address,
                     consumer_ref: bytes32, terms_hash: bytes32, valid_from: uint64, valid_until: uint64,
                     objectives: DynArray[Objective, MAX_OBJECTIVES], revision: uint64):
    self._only(ROLE_OPERATOR)
    assert agreement_id != empty(bytes32), "agreement_id: empty"
    assert self._state[agreement_id] == 0, "agreement exists"
    self._store_terms(agreement_id, terms_hash, valid_from, valid_until, objectives, 1)
    party: uint256 = convert(provider_account, uint256)
    if revision > 1:
        party = party | (convert(revision, uint256) << 160)
    if party != 0:
        self._party[agreement_id] = party
    log AgreementCreated(agreement_id=agreement_id, provider_ref=provider_ref,
                         provider_account=provider_account, consumer_ref=consumer_ref, terms_hash=terms_hash,
                         valid_from=valid_from, valid_until=valid_until, version=1, objectives=objectives,
                         revision=revision)


@internal
@view
def _active_state(agreement_id: bytes32) -> uint256:
    state: uint256 = self._state[agreement_id]
    assert state != 0, "unknown agreement"
    assert state & 3 == STATUS_ACTIVE, "agreement not active"
    return state


@external
def amend_agreement(agreement_id: bytes32, revision: uint64, terms_hash: bytes32, valid_from: uint64,
                    valid_until: uint64, objectives: DynArray[Objective, MAX_OBJECTIVES]):
    self._only(ROLE_OPERATOR)
    version: uint256 = ((self._active_state(agreement_id) >> 8) & 65535) + 1
    assert version < 2**16, "version: too many amendments"
    # an amendment replayed after a newer one (a late retry, a second sender) must not roll the terms back
    party: uint256 = self._party[agreement_id]
    assert convert(revision, uint256) > max(party >> 160, 1), "revision: stale, the agreement holds a newer one"
    # the same terms sent twice must not count as two versions
    assert terms_hash != self._terms[agreement_id], "terms_hash: unchanged, nothing to amend"
    self._party[agreement_id] = (party & ADDRESS_MASK) | (convert(revision, uint256) << 160)
    self._store_terms(agreement_id, terms_hash, valid_from, valid_until, objectives, version)
    log AgreementAmended(agreement_id=agreement_id, version=convert(version, uint16), terms_hash=terms_hash,
                         valid_from=valid_from, valid_until=valid_until, objectives=objectives, revision=revision)


@external
def terminate_agreement(agreement_id: bytes32):
    self._only(ROLE_OPERATOR)
    state: uint256 = self._active_state(agreement_id)
    self._state[agreement_id] = (state >> 2 << 2) | STATUS_TERMINATED
    log AgreementTerminated(agreement_id=agreement_id, version=convert((state >> 8) & 65535, uint16))


@external
def accept_agreement(agreement_id: bytes32, version: uint16):
    state: uint256 = self._active_state(agreement_id)
    provider: address = convert(self._party[agreement_id] & ADDRESS_MASK, address)
    assert provider != empty(address) and msg.sender == provider, "caller is not the provider"
    assert convert(version, uint256) == (state >> 8) & 65535, "version: not the current version"
    self._state[agreement_id] = state | 4
    log AgreementAccepted(agreement_id=agreement_id, provider_account=provider, version=version)


# -- breaches -----------------------------------------------------------------------------------------

@internal
@view
def _breach_id(agreement_id: bytes32, objective: uint8, window_start: uint64) -> bytes32:
    return keccak256(abi_encode(chain.id, self, agreement_id, objective, window_start))


@internal
@view
def _seen(agreement_id: bytes32, objective: uint8, window_start: uint64) -> (bytes32, uint256, uint256):
    """@return bitmap key, bit of the window, current bitmap"""
    w: uint256 = convert(window_start, uint256)
    key: bytes32 = keccak256(abi_encode(agreement_id, objective, w >> 8))
    return key, 1 << (w & 255), self._seen_windows[key]


@internal
@view
def _objective(agreement_id: bytes32, state: uint256, index: uint256) -> uint256:
    if index < 3:
        return (state >> (64 + OBJ_BITS * index)) & OBJ_MASK
    return (self._more_objectives[agreement_id][(index - 3) // 4 + 1] >> (OBJ_BITS * ((index - 3) % 4))) & OBJ_MASK


@internal
def _record(b: BreachInput, strict: bool) -> bool:
    state: uint256 = self._state[b.agreement_id]
    assert state != 0, "unknown agreement"
    assert state & 3 == STATUS_ACTIVE, "agreement not active"
    valid_until: uint256 = (state >> 24) & TIME_MASK
    assert block.timestamp <= valid_until, "agreement expired"
    assert b.window_end > b.window_start, "window: end must be after start"
    assert convert(b.window_end, uint256) <= valid_until, "window: ends after validity"
    head: uint256 = self._head[b.agreement_id]
    assert convert(b.window_start, uint256) >= head & TIME_MASK, "window: starts before validity"
    assert convert(b.objective, uint256) < (state >> 3) & 31, "objective: unknown index"
    assert b.severity < SEVERITIES, "severity: unknown"
    assert b.evidence_hash != empty(bytes32), "evidence_hash: empty"
    packed: uint256 = self._objective(b.agreement_id, state, convert(b.objective, uint256))
    comparator: uint256 = packed & 3
    threshold: int256 = convert(packed >> 2, int256) - BIAS
    observed: int256 = convert(b.observed, int256)
    violated: bool = False
    if comparator == 0:
        violated = observed >= threshold
    elif comparator == 1:
        violated = observed > threshold
    elif comparator == 2:
        violated = observed <= threshold
    else:
        violated = observed < threshold
    assert violated, "observed value does not violate the threshold"
    key: bytes32 = empty(bytes32)
    bit: uint256 = 0
    seen: uint256 = 0
    key, bit, seen = self._seen(b.agreement_id, b.objective, b.window_start)
    if seen & bit != 0:
        assert not strict, "duplicate breach"
        return False
    self._seen_windows[key] = seen | bit
    self._head[b.agreement_id] = head + (1 << (40 + COUNT_BITS * convert(b.severity, uint256)))
    log BreachRecorded(breach_id=self._breach_id(b.agreement_id, b.objective, b.window_start),
                       agreement_id=b.agreement_id, severity=b.severity, objective=b.objective,
                       observed=b.observed, window_start=b.window_start, window_end=b.window_end,
                       evidence_hash=b.evidence_hash, version=convert((state >> 8) & 65535, uint16))
    return True


@external
def record_breach(breach: BreachInput):
    self._only(ROLE_ORACLE)
    self._record(breach, True)


@external
def record_breaches(breaches: DynArray[BreachInput, MAX_BATCH]) -> uint256:
    """@notice Records every new breach; duplicates are skipped, any other invalid entry reverts the batch."""
    self._only(ROLE_ORACLE)
    written: uint256 = 0
    for b: BreachInput in breaches:
        if self._record(b, False):
            written += 1
    return written


@external
@view
def is_breach_recorded(agreement_id: bytes32, objective: uint8, window_start: uint64) -> bool:
    key: bytes32 = empty(bytes32)
    bit: uint256 = 0
    seen: uint256 = 0
    key, bit, seen = self._seen(agreement_id, objective, window_start)
    return seen & bit != 0


@external
@view
def breach_id(agreement_id: bytes32, objective: uint8, window_start: uint64) -> bytes32:
    return self._breach_id(agreement_id, objective, window_start)


# -- migrations ---------------------------------------------------------------------------------------

@external
def record_migration(agreement_id: bytes32, objective: uint8, window_start: uint64, workload_ref: bytes32,
                     from_site: String[64], to_site: String[64]):
    """@notice The workload moved from one site to another because of the given (recorded) breach."""
    self._only(ROLE_OPERATOR)
    assert self._state[agreement_id] != 0, "unknown agreement"
    key: bytes32 = empty(bytes32)
    bit: uint256 = 0
    seen: uint256 = 0
    key, bit, seen = self._seen(agreement_id, objective, window_start)
    assert seen & bit != 0, "unknown breach"
    assert len(from_site) > 0 and len(to_site) > 0, "site: empty"
    assert from_site != to_site, "site: from and to are the same"
    breach: bytes32 = self._breach_id(agreement_id, objective, window_start)
    migration_id: bytes32 = keccak256(abi_encode(breach, workload_ref, from_site, to_site))
    assert not self._migrations[migration_id], "duplicate migration"
    self._migrations[migration_id] = True
    self._head[agreement_id] = self._head[agreement_id] + (1 << 240)
    log MigrationRecorded(migration_id=migration_id, agreement_id=agreement_id, breach_id=breach,
                          workload_ref=workload_ref, from_site=from_site, to_site=to_site)


# -- resizes ------------------------------------------------------------------------------------------

@external
def record_resize(agreement_id: bytes32, seq: uint32, objective: uint8, window_start: uint64, workload_ref: bytes32,
                  cpu_m: uint32, replicas: uint16, up: bool, moved: uint16):
    """@notice The agreement's elasticity resized its workload (resize number `seq` of the agreement): to
               `cpu_m` millicores per replica and `replicas` replicas, `moved` of them moved with it; up
               for the given (recorded) breach, or down (window_start 0) after a quiet period."""
    self._only(ROLE_OPERATOR)
    assert self._state[agreement_id] != 0, "unknown agreement"
    assert seq > 0, "seq: must be > 0"
    assert cpu_m > 0, "cpu_m: must be > 0"
    breach: bytes32 = empty(bytes32)
    if window_start != 0:
        key: bytes32 = empty(bytes32)
        bit: uint256 = 0
        seen: uint256 = 0
        key, bit, seen = self._seen(agreement_id, objective, window_start)
        assert seen & bit != 0, "unknown breach"
        breach = self._breach_id(agreement_id, objective, window_start)
    resize_id: bytes32 = keccak256(abi_encode(agreement_id, seq))
    assert not self._resizes[resize_id], "duplicate resize"
    self._resizes[resize_id] = True
    log ResizeRecorded(resize_id=resize_id, agreement_id=agreement_id, breach_id=breach, workload_ref=workload_ref,
                       seq=seq, cpu_m=cpu_m, replicas=replicas, up=up, moved=moved)


# -- compliance views ---------------------------------------------------------------------------------

@external
@view
def get_agreement(agreement_id: bytes32) -> (uint256, bool, uint16, uint64, uint64, address, bytes32, uint8):
    """@return status (0 none, 1 active, 2 terminated), accepted, version, valid_from, valid_until,
               provider account, terms hash, objective count"""
    state: uint256 = self._state[agreement_id]
    head: uint256 = self._head[agreement_id]
    return (state & 3, state & 4 != 0, convert((state >> 8) & 65535, uint16),
            convert(head & TIME_MASK, uint64), convert((state >> 24) & TIME_MASK, uint64),
            convert(self._party[agreement_id] & ADDRESS_MASK, address),
            self._terms[agreement_id], convert((state >> 3) & 31, uint8))


@external
@view
def revision(agreement_id: bytes32) -> uint64:
    """@return the revision of the agreement's current version: at least 1 (0: no such agreement)"""
    if self._state[agreement_id] == 0:
        return 0
    return convert(max(self._party[agreement_id] >> 160, 1), uint64)


@external
@view
def get_objective(agreement_id: bytes32, index: uint8) -> (uint8, int64):
    """@return comparator, threshold of the current version's objective"""
    state: uint256 = self._state[agreement_id]
    assert convert(index, uint256) < (state >> 3) & 31, "objective: unknown index"
    packed: uint256 = self._objective(agreement_id, state, convert(index, uint256))
    return convert(packed & 3, uint8), convert(convert(packed >> 2, int256) - BIAS, int64)


@external
@view
def breach_count(agreement_id: bytes32, severity: uint8) -> uint256:
    assert severity < SEVERITIES, "severity: unknown"
    return (self._head[agreement_id] >> (40 + COUNT_BITS * convert(severity, uint256))) & COUNT_MASK


@external
@view
def breach_counts(agreement_id: bytes32) -> uint256[5]:
    c: uint256 = self._head[agreement_id]
    return [(c >> 40) & COUNT_MASK, (c >> 80) & COUNT_MASK, (c >> 120) & COUNT_MASK, (c >> 160) & COUNT_MASK,
            (c >> 200) & COUNT_MASK]


@external
@view
def migration_count(agreement_id: bytes32) -> uint256:
    return self._head[agreement_id] >> 240
