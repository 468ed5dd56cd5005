# Generated from errors.ts by scripts/python-errors.ts; do not edit. After a change to ERRORS:
#   npm run build && node dist/scripts/python-errors.js > python/skyplane/_codes.py
"""Every code of the error table (``ERRORS`` in errors.ts) as an exception class."""

from typing import Final

from .errors import InternalError, SkyplaneError, UserError

#: Every code: the status ``skyplane`` exits with, and whether the user can fix it.
ERRORS: Final[dict[str, tuple[int, str]]] = {
    "USAGE": (1, "user"),
    "INVALID_URI": (1, "user"),
    "INVALID_KEY": (1, "user"),
    "UNKNOWN_REGION": (1, "user"),
    "BAD_REGION": (1, "user"),
    "NO_REGION": (1, "user"),
    "BAD_PLAN": (1, "user"),
    "BAD_TOPOLOGY": (1, "user"),
    "BAD_TABLE": (1, "user"),
    "BAD_PROFILE": (1, "user"),
    "BAD_MAP": (1, "user"),
    "BAD_LEASE": (1, "user"),
    "BAD_PART_SIZE": (1, "user"),
    "UNREADABLE": (1, "user"),
    "UNWRITABLE": (1, "user"),
    "NEEDS_CONFIRMATION": (1, "user"),
    "UNSUPPORTED": (1, "user"),
    "NO_SUCH_BUCKET": (1, "user"),
    "NO_SUCH_KEY": (1, "user"),
    "NO_SUCH_OBJECT": (1, "user"),
    "NO_CREDENTIALS": (1, "user"),
    "ACCESS_DENIED": (1, "user"),
    "CONFLICT": (1, "user"),
    "OBJECT_TOO_LARGE": (1, "user"),
    "NOTHING_TO_COPY": (1, "user"),
    "NOTHING_TO_VERIFY": (1, "user"),
    "OVERLAP": (1, "user"),
    "MIXED_ROUTE": (1, "user"),
    "WRONG_ROUTE": (1, "user"),
    "MISSING_CLOUD_SETTINGS": (1, "user"),
    "MISSING_PEERS": (1, "user"),
    "TOO_MANY_REGIONS": (1, "user"),
    "TOO_MANY_GATEWAYS": (1, "user"),
    "NOT_PROVISIONED": (1, "user"),
    "NO_SUCH_STACK": (1, "user"),
    "STACK_LOCKED": (1, "user"),
    "ROUTE_BUSY": (1, "user"),
    "ENGINE_NOT_FOUND": (1, "user"),
    "ENGINE_INCOMPLETE": (1, "user"),
    "ENGINE_CHECK_FAILED": (1, "user"),
    "PROVIDER_PLUGIN_MISSING": (1, "user"),
    "EMPTY_PASSPHRASE": (1, "user"),
    "EMULATORS_MISSING": (1, "user"),
    "INTERRUPTED": (130, "user"),
    "TRANSFER_FAILED": (3, "internal"),
    "GATEWAY_UNREACHABLE": (3, "internal"),
    "SOURCE_CHANGED": (3, "internal"),
    "BAD_MESSAGE": (1, "user"),
    "NODE_SIDE_NOT_FOUND": (1, "user"),
    "NODE_SIDE_GONE": (2, "internal"),
    "ENGINE_FAILED": (2, "internal"),
    "PROVISION_FAILED": (2, "internal"),
    "NO_PROJECT": (2, "internal"),
    "NO_GATEWAYS": (2, "internal"),
    "CLOUD_NOT_REGISTERED": (2, "internal"),
    "UNSORTED_LISTING": (2, "internal"),
    "GATEWAY_AUTH": (2, "internal"),
    "GATEWAY_ERROR": (2, "internal"),
    "PROC_UNREADABLE": (2, "internal"),
    "EMULATOR_FAILED": (2, "internal"),
    "BAD_BOOT_SPEC": (2, "internal"),
    "BUNDLE_MISSING": (1, "user"),
    "BUNDLE_BUILD_FAILED": (2, "internal"),
    "NO_SUCH_UPLOAD": (2, "internal"),
    "INVALID_PART": (2, "internal"),
    "INVALID_ARGUMENT": (2, "internal"),
    "CHECKSUM_MISMATCH": (2, "internal"),
    "BAD_PROGRAM": (2, "internal"),
    "BAD_CHUNK_REQUEST": (2, "internal"),
    "BUCKET_NOT_IN_PROGRAM": (2, "internal"),
    "KEY_OUTSIDE_BUCKET": (2, "internal"),
    "NOT_A_SOURCE": (2, "internal"),
    "NO_KEY": (2, "internal"),
    "WIRE_PROTOCOL": (2, "internal"),
    "CONTROL_REFUSED": (2, "internal"),
    "PEER_UNREACHABLE": (2, "internal"),
    "CONNECTION_CLOSED": (2, "internal"),
    "SEND_POOL_CLOSED": (2, "internal"),
    "CHUNK_FAILED": (2, "internal"),
    "PLANNER_INVARIANT": (2, "internal"),
    "BOOT_SCRIPT_TOO_LARGE": (2, "internal"),
    "UNREACHABLE": (2, "internal"),
}


class UsageError(UserError):
    """``USAGE``: a user error; ``skyplane`` exits 1."""

    code = "USAGE"
    exit_status = 1


class InvalidUriError(UserError):
    """``INVALID_URI``: a user error; ``skyplane`` exits 1."""

    code = "INVALID_URI"
    exit_status = 1


class InvalidKeyError(UserError):
    """``INVALID_KEY``: a user error; ``skyplane`` exits 1."""

    code = "INVALID_KEY"
    exit_status = 1


class UnknownRegionError(UserError):
    """``UNKNOWN_REGION``: a user error; ``skyplane`` exits 1."""

    code = "UNKNOWN_REGION"
    exit_status = 1


class BadRegionError(UserError):
    """``BAD_REGION``: a user error; ``skyplane`` exits 1."""

    code = "BAD_REGION"
    exit_status = 1


class NoRegionError(UserError):
    """``NO_REGION``: a user error; ``skyplane`` exits 1."""

    code = "NO_REGION"
    exit_status = 1


class BadPlanError(UserError):
    """``BAD_PLAN``: a user error; ``skyplane`` exits 1."""

    code = "BAD_PLAN"
    exit_status = 1


class BadTopologyError(UserError):
    """``BAD_TOPOLOGY``: a user error; ``skyplane`` exits 1."""

    code = "BAD_TOPOLOGY"
    exit_status = 1


class BadTableError(UserError):
    """``BAD_TABLE``: a user error; ``skyplane`` exits 1."""

    code = "BAD_TABLE"
    exit_status = 1


class BadProfileError(UserError):
    """``BAD_PROFILE``: a user error; ``skyplane`` exits 1."""

    code = "BAD_PROFILE"
    exit_status = 1


class BadMapError(UserError):
    """``BAD_MAP``: a user error; ``skyplane`` exits 1."""

    code = "BAD_MAP"
    exit_status = 1


class BadLeaseError(UserError):
    """``BAD_LEASE``: a user error; ``skyplane`` exits 1."""

    code = "BAD_LEASE"
    exit_status = 1


class BadPartSizeError(UserError):
    """``BAD_PART_SIZE``: a user error; ``skyplane`` exits 1."""

    code = "BAD_PART_SIZE"
    exit_status = 1


class UnreadableError(UserError):
    """``UNREADABLE``: a user error; ``skyplane`` exits 1."""

    code = "UNREADABLE"
    exit_status = 1


class UnwritableError(UserError):
    """``UNWRITABLE``: a user error; ``skyplane`` exits 1."""

    code = "UNWRITABLE"
    exit_status = 1


class NeedsConfirmationError(UserError):
    """``NEEDS_CONFIRMATION``: a user error; ``skyplane`` exits 1."""

    code = "NEEDS_CONFIRMATION"
    exit_status = 1


class UnsupportedError(UserError):
    """``UNSUPPORTED``: a user error; ``skyplane`` exits 1."""

    code = "UNSUPPORTED"
    exit_status = 1


class NoSuchBucketError(UserError):
    """``NO_SUCH_BUCKET``: a user error; ``skyplane`` exits 1."""

    code = "NO_SUCH_BUCKET"
    exit_status = 1


class NoSuchKeyError(UserError):
    """``NO_SUCH_KEY``: a user error; ``skyplane`` exits 1."""

    code = "NO_SUCH_KEY"
    exit_status = 1


class NoSuchObjectError(UserError):
    """``NO_SUCH_OBJECT``: a user error; ``skyplane`` exits 1."""

    code = "NO_SUCH_OBJECT"
    exit_status = 1


class NoCredentialsError(UserError):
    """``NO_CREDENTIALS``: a user error; ``skyplane`` exits 1."""

    code = "NO_CREDENTIALS"
    exit_status = 1


class AccessDeniedError(UserError):
    """``ACCESS_DENIED``: a user error; ``skyplane`` exits 1."""

    code = "ACCESS_DENIED"
    exit_status = 1


class ConflictError(UserError):
    """``CONFLICT``: a user error; ``skyplane`` exits 1."""

    code = "CONFLICT"
    exit_status = 1


class ObjectTooLargeError(UserError):
    """``OBJECT_TOO_LARGE``: a user error; ``skyplane`` exits 1."""

    code = "OBJECT_TOO_LARGE"
    exit_status = 1


class NothingToCopyError(UserError):
    """``NOTHING_TO_COPY``: a user error; ``skyplane`` exits 1."""

    code = "NOTHING_TO_COPY"
    exit_status = 1


class NothingToVerifyError(UserError):
    """``NOTHING_TO_VERIFY``: a user error; ``skyplane`` exits 1."""

    code = "NOTHING_TO_VERIFY"
    exit_status = 1


class OverlapError(UserError):
    """``OVERLAP``: a user error; ``skyplane`` exits 1."""

    code = "OVERLAP"
    exit_status = 1


class MixedRouteError(UserError):
    """``MIXED_ROUTE``: a user error; ``skyplane`` exits 1."""

    code = "MIXED_ROUTE"
    exit_status = 1


class WrongRouteError(UserError):
    """``WRONG_ROUTE``: a user error; ``skyplane`` exits 1."""

    code = "WRONG_ROUTE"
    exit_status = 1


class MissingCloudSettingsError(UserError):
    """``MISSING_CLOUD_SETTINGS``: a user error; ``skyplane`` exits 1."""

    code = "MISSING_CLOUD_SETTINGS"
    exit_status = 1


class MissingPeersError(UserError):
    """``MISSING_PEERS``: a user error; ``skyplane`` exits 1."""

    code = "MISSING_PEERS"
    exit_status = 1


class TooManyRegionsError(UserError):
    """``TOO_MANY_REGIONS``: a user error; ``skyplane`` exits 1."""

    code = "TOO_MANY_REGIONS"
    exit_status = 1


class TooManyGatewaysError(UserError):
    """``TOO_MANY_GATEWAYS``: a user error; ``skyplane`` exits 1."""

    code = "TOO_MANY_GATEWAYS"
    exit_status = 1


class NotProvisionedError(UserError):
    """``NOT_PROVISIONED``: a user error; ``skyplane`` exits 1."""

    code = "NOT_PROVISIONED"
    exit_status = 1


class NoSuchStackError(UserError):
    """``NO_SUCH_STACK``: a user error; ``skyplane`` exits 1."""

    code = "NO_SUCH_STACK"
    exit_status = 1


class StackLockedError(UserError):
    """``STACK_LOCKED``: a user error; ``skyplane`` exits 1."""

    code = "STACK_LOCKED"
    exit_status = 1


class RouteBusyError(UserError):
    """``ROUTE_BUSY``: a user error; ``skyplane`` exits 1."""

    code = "ROUTE_BUSY"
    exit_status = 1


class EngineNotFoundError(UserError):
    """``ENGINE_NOT_FOUND``: a user error; ``skyplane`` exits 1."""

    code = "ENGINE_NOT_FOUND"
    exit_status = 1


class EngineIncompleteError(UserError):
    """``ENGINE_INCOMPLETE``: a user error; ``skyplane`` exits 1."""

    code = "ENGINE_INCOMPLETE"
    exit_status = 1


class EngineCheckFailedError(UserError):
    """``ENGINE_CHECK_FAILED``: a user error; ``skyplane`` exits 1."""

    code = "ENGINE_CHECK_FAILED"
    exit_status = 1


class ProviderPluginMissingError(UserError):
    """``PROVIDER_PLUGIN_MISSING``: a user error; ``skyplane`` exits 1."""

    code = "PROVIDER_PLUGIN_MISSING"
    exit_status = 1


class EmptyPassphraseError(UserError):
    """``EMPTY_PASSPHRASE``: a user error; ``skyplane`` exits 1."""

    code = "EMPTY_PASSPHRASE"
    exit_status = 1


class EmulatorsMissingError(UserError):
    """``EMULATORS_MISSING``: a user error; ``skyplane`` exits 1."""

    code = "EMULATORS_MISSING"
    exit_status = 1


class InterruptedError(UserError):
    """``INTERRUPTED``: a user error; ``skyplane`` exits 130."""

    code = "INTERRUPTED"
    exit_status = 130


class TransferFailedError(InternalError):
    """``TRANSFER_FAILED``: an internal error; ``skyplane`` exits 3."""

    code = "TRANSFER_FAILED"
    exit_status = 3


class GatewayUnreachableError(InternalError):
    """``GATEWAY_UNREACHABLE``: an internal error; ``skyplane`` exits 3."""

    code = "GATEWAY_UNREACHABLE"
    exit_status = 3


class SourceChangedError(InternalError):
    """``SOURCE_CHANGED``: an internal error; ``skyplane`` exits 3."""

    code = "SOURCE_CHANGED"
    exit_status = 3


class BadMessageError(UserError):
    """``BAD_MESSAGE``: a user error; ``skyplane`` exits 1."""

    code = "BAD_MESSAGE"
    exit_status = 1


class NodeSideNotFoundError(UserError):
    """``NODE_SIDE_NOT_FOUND``: a user error; ``skyplane`` exits 1."""

    code = "NODE_SIDE_NOT_FOUND"
    exit_status = 1


class NodeSideGoneError(InternalError):
    """``NODE_SIDE_GONE``: an internal error; ``skyplane`` exits 2."""

    code = "NODE_SIDE_GONE"
    exit_status = 2


class EngineFailedError(InternalError):
    """``ENGINE_FAILED``: an internal error; ``skyplane`` exits 2."""

    code = "ENGINE_FAILED"
    exit_status = 2


class ProvisionFailedError(InternalError):
    """``PROVISION_FAILED``: an internal error; ``skyplane`` exits 2."""

    code = "PROVISION_FAILED"
    exit_status = 2


class NoProjectError(InternalError):
    """``NO_PROJECT``: an internal error; ``skyplane`` exits 2."""

    code = "NO_PROJECT"
    exit_status = 2


class NoGatewaysError(InternalError):
    """``NO_GATEWAYS``: an internal error; ``skyplane`` exits 2."""

    code = "NO_GATEWAYS"
    exit_status = 2


class CloudNotRegisteredError(InternalError):
    """``CLOUD_NOT_REGISTERED``: an internal error; ``skyplane`` exits 2."""

    code = "CLOUD_NOT_REGISTERED"
    exit_status = 2


class UnsortedListingError(InternalError):
    """``UNSORTED_LISTING``: an internal error; ``skyplane`` exits 2."""

    code = "UNSORTED_LISTING"
    exit_status = 2


class GatewayAuthError(InternalError):
    """``GATEWAY_AUTH``: an internal error; ``skyplane`` exits 2."""

    code = "GATEWAY_AUTH"
    exit_status = 2


class GatewayErrorError(InternalError):
    """``GATEWAY_ERROR``: an internal error; ``skyplane`` exits 2."""

    code = "GATEWAY_ERROR"
    exit_status = 2


class ProcUnreadableError(InternalError):
    """``PROC_UNREADABLE``: an internal error; ``skyplane`` exits 2."""

    code = "PROC_UNREADABLE"
    exit_status = 2


class EmulatorFailedError(InternalError):
    """``EMULATOR_FAILED``: an internal error; ``skyplane`` exits 2."""

    code = "EMULATOR_FAILED"
    exit_status = 2


class BadBootSpecError(InternalError):
    """``BAD_BOOT_SPEC``: an internal error; ``skyplane`` exits 2."""

    code = "BAD_BOOT_SPEC"
    exit_status = 2


class BundleMissingError(UserError):
    """``BUNDLE_MISSING``: a user error; ``skyplane`` exits 1."""

    code = "BUNDLE_MISSING"
    exit_status = 1


class BundleBuildFailedError(InternalError):
    """``BUNDLE_BUILD_FAILED``: an internal error; ``skyplane`` exits 2."""

    code = "BUNDLE_BUILD_FAILED"
    exit_status = 2


class NoSuchUploadError(InternalError):
    """``NO_SUCH_UPLOAD``: an internal error; ``skyplane`` exits 2."""

    code = "NO_SUCH_UPLOAD"
    exit_status = 2


class InvalidPartError(InternalError):
    """``INVALID_PART``: an internal error; ``skyplane`` exits 2."""

    code = "INVALID_PART"
    exit_status = 2


class InvalidArgumentError(InternalError):
    """``INVALID_ARGUMENT``: an internal error; ``skyplane`` exits 2."""

    code = "INVALID_ARGUMENT"
    exit_status = 2


class ChecksumMismatchError(InternalError):
    """``CHECKSUM_MISMATCH``: an internal error; ``skyplane`` exits 2."""

    code = "CHECKSUM_MISMATCH"
    exit_status = 2


class BadProgramError(InternalError):
    """``BAD_PROGRAM``: an internal error; ``skyplane`` exits 2."""

    code = "BAD_PROGRAM"
    exit_status = 2


class BadChunkRequestError(InternalError):
    """``BAD_CHUNK_REQUEST``: an internal error; ``skyplane`` exits 2."""

    code = "BAD_CHUNK_REQUEST"
    exit_status = 2


class BucketNotInProgramError(InternalError):
    """``BUCKET_NOT_IN_PROGRAM``: an internal error; ``skyplane`` exits 2."""

    code = "BUCKET_NOT_IN_PROGRAM"
    exit_status = 2


class KeyOutsideBucketError(InternalError):
    """``KEY_OUTSIDE_BUCKET``: an internal error; ``skyplane`` exits 2."""

    code = "KEY_OUTSIDE_BUCKET"
    exit_status = 2


class NotASourceError(InternalError):
    """``NOT_A_SOURCE``: an internal error; ``skyplane`` exits 2."""

    code = "NOT_A_SOURCE"
    exit_status = 2


class NoKeyError(InternalError):
    """``NO_KEY``: an internal error; ``skyplane`` exits 2."""

    code = "NO_KEY"
    exit_status = 2


class WireProtocolError(InternalError):
    """``WIRE_PROTOCOL``: an internal error; ``skyplane`` exits 2."""

    code = "WIRE_PROTOCOL"
    exit_status = 2


class ControlRefusedError(InternalError):
    """``CONTROL_REFUSED``: an internal error; ``skyplane`` exits 2."""

    code = "CONTROL_REFUSED"
    exit_status = 2


class PeerUnreachableError(InternalError):
    """``PEER_UNREACHABLE``: an internal error; ``skyplane`` exits 2."""

    code = "PEER_UNREACHABLE"
    exit_status = 2


class ConnectionClosedError(InternalError):
    """``CONNECTION_CLOSED``: an internal error; ``skyplane`` exits 2."""

    code = "CONNECTION_CLOSED"
    exit_status = 2


class SendPoolClosedError(InternalError):
    """``SEND_POOL_CLOSED``: an internal error; ``skyplane`` exits 2."""

    code = "SEND_POOL_CLOSED"
    exit_status = 2


class ChunkFailedError(InternalError):
    """``CHUNK_FAILED``: an internal error; ``skyplane`` exits 2."""

    code = "CHUNK_FAILED"
    exit_status = 2


class PlannerInvariantError(InternalError):
    """``PLANNER_INVARIANT``: an internal error; ``skyplane`` exits 2."""

    code = "PLANNER_INVARIANT"
    exit_status = 2


class BootScriptTooLargeError(InternalError):
    """``BOOT_SCRIPT_TOO_LARGE``: an internal error; ``skyplane`` exits 2."""

    code = "BOOT_SCRIPT_TOO_LARGE"
    exit_status = 2


class UnreachableError(InternalError):
    """``UNREACHABLE``: an internal error; ``skyplane`` exits 2."""

    code = "UNREACHABLE"
    exit_status = 2


#: The class of each code.
CLASSES: Final[dict[str, type[SkyplaneError]]] = {
    "USAGE": UsageError,
    "INVALID_URI": InvalidUriError,
    "INVALID_KEY": InvalidKeyError,
    "UNKNOWN_REGION": UnknownRegionError,
    "BAD_REGION": BadRegionError,
    "NO_REGION": NoRegionError,
    "BAD_PLAN": BadPlanError,
    "BAD_TOPOLOGY": BadTopologyError,
    "BAD_TABLE": BadTableError,
    "BAD_PROFILE": BadProfileError,
    "BAD_MAP": BadMapError,
    "BAD_LEASE": BadLeaseError,
    "BAD_PART_SIZE": BadPartSizeError,
    "UNREADABLE": UnreadableError,
    "UNWRITABLE": UnwritableError,
    "NEEDS_CONFIRMATION": NeedsConfirmationError,
    "UNSUPPORTED": UnsupportedError,
    "NO_SUCH_BUCKET": NoSuchBucketError,
    "NO_SUCH_KEY": NoSuchKeyError,
    "NO_SUCH_OBJECT": NoSuchObjectError,
    "NO_CREDENTIALS": NoCredentialsError,
    "ACCESS_DENIED": AccessDeniedError,
    "CONFLICT": ConflictError,
    "OBJECT_TOO_LARGE": ObjectTooLargeError,
    "NOTHING_TO_COPY": NothingToCopyError,
    "NOTHING_TO_VERIFY": NothingToVerifyError,
    "OVERLAP": OverlapError,
    "MIXED_ROUTE": MixedRouteError,
    "WRONG_ROUTE": WrongRouteError,
    "MISSING_CLOUD_SETTINGS": MissingCloudSettingsError,
    "MISSING_PEERS": MissingPeersError,
    "TOO_MANY_REGIONS": TooManyRegionsError,
    "TOO_MANY_GATEWAYS": TooManyGatewaysError,
    "NOT_PROVISIONED": NotProvisionedError,
    "NO_SUCH_STACK": NoSuchStackError,
    "STACK_LOCKED": StackLockedError,
    "ROUTE_BUSY": RouteBusyError,
    "ENGINE_NOT_FOUND": EngineNotFoundError,
    "ENGINE_INCOMPLETE": EngineIncompleteError,
    "ENGINE_CHECK_FAILED": EngineCheckFailedError,
    "PROVIDER_PLUGIN_MISSING": ProviderPluginMissingError,
    "EMPTY_PASSPHRASE": EmptyPassphraseError,
    "EMULATORS_MISSING": EmulatorsMissingError,
    "INTERRUPTED": InterruptedError,
    "TRANSFER_FAILED": TransferFailedError,
    "GATEWAY_UNREACHABLE": GatewayUnreachableError,
    "SOURCE_CHANGED": SourceChangedError,
    "BAD_MESSAGE": BadMessageError,
    "NODE_SIDE_NOT_FOUND": NodeSideNotFoundError,
    "NODE_SIDE_GONE": NodeSideGoneError,
    "ENGINE_FAILED": EngineFailedError,
    "PROVISION_FAILED": ProvisionFailedError,
    "NO_PROJECT": NoProjectError,
    "NO_GATEWAYS": NoGatewaysError,
    "CLOUD_NOT_REGISTERED": CloudNotRegisteredError,
    "UNSORTED_LISTING": UnsortedListingError,
    "GATEWAY_AUTH": GatewayAuthError,
    "GATEWAY_ERROR": GatewayErrorError,
    "PROC_UNREADABLE": ProcUnreadableError,
    "EMULATOR_FAILED": EmulatorFailedError,
    "BAD_BOOT_SPEC": BadBootSpecError,
    "BUNDLE_MISSING": BundleMissingError,
    "BUNDLE_BUILD_FAILED": BundleBuildFailedError,
    "NO_SUCH_UPLOAD": NoSuchUploadError,
    "INVALID_PART": InvalidPartError,
    "INVALID_ARGUMENT": InvalidArgumentError,
    "CHECKSUM_MISMATCH": ChecksumMismatchError,
    "BAD_PROGRAM": BadProgramError,
    "BAD_CHUNK_REQUEST": BadChunkRequestError,
    "BUCKET_NOT_IN_PROGRAM": BucketNotInProgramError,
    "KEY_OUTSIDE_BUCKET": KeyOutsideBucketError,
    "NOT_A_SOURCE": NotASourceError,
    "NO_KEY": NoKeyError,
    "WIRE_PROTOCOL": WireProtocolError,
    "CONTROL_REFUSED": ControlRefusedError,
    "PEER_UNREACHABLE": PeerUnreachableError,
    "CONNECTION_CLOSED": ConnectionClosedError,
    "SEND_POOL_CLOSED": SendPoolClosedError,
    "CHUNK_FAILED": ChunkFailedError,
    "PLANNER_INVARIANT": PlannerInvariantError,
    "BOOT_SCRIPT_TOO_LARGE": BootScriptTooLargeError,
    "UNREACHABLE": UnreachableError,
}

__all__ = [
    "CLASSES",
    "ERRORS",
    "AccessDeniedError",
    "BadBootSpecError",
    "BadChunkRequestError",
    "BadLeaseError",
    "BadMapError",
    "BadMessageError",
    "BadPartSizeError",
    "BadPlanError",
    "BadProfileError",
    "BadProgramError",
    "BadRegionError",
    "BadTableError",
    "BadTopologyError",
    "BootScriptTooLargeError",
    "BucketNotInProgramError",
    "BundleBuildFailedError",
    "BundleMissingError",
    "ChecksumMismatchError",
    "ChunkFailedError",
    "CloudNotRegisteredError",
    "ConflictError",
    "ConnectionClosedError",
    "ControlRefusedError",
    "EmptyPassphraseError",
    "EmulatorFailedError",
    "EmulatorsMissingError",
    "EngineCheckFailedError",
    "EngineFailedError",
    "EngineIncompleteError",
    "EngineNotFoundError",
    "GatewayAuthError",
    "GatewayErrorError",
    "GatewayUnreachableError",
    "InterruptedError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "InvalidPartError",
    "InvalidUriError",
    "KeyOutsideBucketError",
    "MissingCloudSettingsError",
    "MissingPeersError",
    "MixedRouteError",
    "NeedsConfirmationError",
    "NoCredentialsError",
    "NoGatewaysError",
    "NoKeyError",
    "NoProjectError",
    "NoRegionError",
    "NoSuchBucketError",
    "NoSuchKeyError",
    "NoSuchObjectError",
    "NoSuchStackError",
    "NoSuchUploadError",
    "NodeSideGoneError",
    "NodeSideNotFoundError",
    "NotASourceError",
    "NotProvisionedError",
    "NothingToCopyError",
    "NothingToVerifyError",
    "ObjectTooLargeError",
    "OverlapError",
    "PeerUnreachableError",
    "PlannerInvariantError",
    "ProcUnreadableError",
    "ProviderPluginMissingError",
    "ProvisionFailedError",
    "RouteBusyError",
    "SendPoolClosedError",
    "SourceChangedError",
    "StackLockedError",
    "TooManyGatewaysError",
    "TooManyRegionsError",
    "TransferFailedError",
    "UnknownRegionError",
    "UnreachableError",
    "UnreadableError",
    "UnsortedListingError",
    "UnsupportedError",
    "UnwritableError",
    "UsageError",
    "WireProtocolError",
    "WrongRouteError",
]
