/**
 * THE Cloudreve error table: every code in the reference §5 (pkg/serializer/error.go), plus -1,
 * mapped to an errno and a retry decision. `retryable` means "the same request may succeed if sent
 * again" (the Scheduler retries it); operation-specific meanings (e.g. 40004 on an upload aimed at a
 * folder = EISDIR) are decided by the adapter, not here. Unknown codes become EIO keeping the number.
 */
import type { ErrnoCode, ErrorRule } from '../../src/errors.js';

/** @deprecated The shape every adapter's code table shares is ErrorRule. */
export type CodeInfo = ErrorRule;

const c = (name: string, errno: ErrnoCode, retryable = false): ErrorRule => ({ name, errno, retryable });

/**
 * The codes the adapter decides on, by their names in Cloudreve's source (without the `Code`
 * prefix); test/cloudreve/codes.test.ts holds each to its row in the table below.
 */
export const CODE = {
  NoPermissionErr: 403,
  NotFound: 404,
  ObjectExist: 40004,
  SignExpired: 40005,
  UploadSessionExpired: 40011,
  ParentNotExist: 40016,
  FeatureNotEnabled: 40019,
  CredentialInvalid: 40020,
  InvalidSign: 40071,
  LockConflict: 40073,
  EntityNotExist: 40077,
  BatchOperationNotFullyCompleted: 40081,
} as const;

/** Every documented code → errno + retry decision. */
export const CLOUDREVE_CODES: Readonly<Record<number, ErrorRule>> = {
  // Unclassified (no AppError in the chain): bad page token, unknown fs, some storage failures.
  // Retried because the storage failures it covers are usually transient.
  [-1]: c('CodeNotSet', 'EIO', true),
  203: c('CodeNotFullySuccess', 'EACCES'), // 2FA step required at login
  401: c('CodeCheckLogin', 'EACCES'),
  403: c('CodeNoPermissionErr', 'EACCES'),
  404: c('CodeNotFound', 'ENOENT'),
  409: c('CodeConflict', 'EBUSY', true), // concurrent change seen while taking a lock: try again
  40001: c('CodeParamErr', 'EINVAL'),
  40002: c('CodeUploadFailed', 'EIO', true),
  40003: c('CodeCreateFolderFailed', 'EIO'),
  40004: c('CodeObjectExist', 'EEXIST'),
  40005: c('CodeSignExpired', 'ESTALE'), // signed URL expired: get a new one (read does)
  40006: c('CodePolicyNotAllowed', 'EACCES'),
  40007: c('CodeGroupNotAllowed', 'EACCES'),
  40008: c('CodeAdminRequired', 'EPERM'),
  40009: c('CodeMasterNotFound', 'EIO'),
  40010: c('CodePhoneRequired', 'EACCES'),
  40011: c('CodeUploadSessionExpired', 'ESTALE'),
  40012: c('CodeInvalidChunkIndex', 'EINVAL'),
  40013: c('CodeInvalidContentLength', 'EINVAL'),
  40014: c('CodeBatchSourceSize', 'EINVAL'),
  40015: c('CodeBatchAria2Size', 'EINVAL'),
  40016: c('CodeParentNotExist', 'ENOENT'), // the generic "path not found"
  40017: c('CodeUserBaned', 'EACCES'),
  40018: c('CodeUserNotActivated', 'EACCES'),
  40019: c('CodeFeatureNotEnabled', 'ENOTSUP'),
  40020: c('CodeCredentialInvalid', 'EACCES'),
  40021: c('CodeUserNotFound', 'EACCES'),
  40022: c('Code2FACodeErr', 'EACCES'),
  40023: c('CodeLoginSessionNotExist', 'EACCES'),
  40024: c('CodeInitializeAuthn', 'EACCES'),
  40025: c('CodeWebAuthnCredentialError', 'EACCES'),
  40026: c('CodeCaptchaError', 'EACCES'),
  40027: c('CodeCaptchaRefreshNeeded', 'EACCES'),
  40028: c('CodeFailedSendEmail', 'EIO'),
  40029: c('CodeInvalidTempLink', 'EINVAL'),
  40030: c('CodeTempLinkExpired', 'ESTALE'),
  40031: c('CodeEmailProviderBaned', 'EINVAL'),
  40032: c('CodeEmailExisted', 'EEXIST'),
  40033: c('CodeEmailSent', 'EAGAIN'),
  40034: c('CodeUserCannotActivate', 'EACCES'),
  40035: c('CodePolicyNotExist', 'ENOENT'),
  40036: c('CodeDeleteDefaultPolicy', 'EPERM'),
  40037: c('CodePolicyUsedByFiles', 'EBUSY'),
  40038: c('CodePolicyUsedByGroups', 'EBUSY'),
  40039: c('CodeGroupNotFound', 'ENOENT'),
  40040: c('CodeInvalidActionOnSystemGroup', 'EPERM'),
  40041: c('CodeGroupUsedByUser', 'EBUSY'),
  40042: c('CodeChangeGroupForDefaultUser', 'EPERM'),
  40043: c('CodeInvalidActionOnDefaultUser', 'EPERM'),
  40044: c('CodeFileNotFound', 'ENOENT'),
  40045: c('CodeListFilesError', 'EIO'),
  40046: c('CodeInvalidActionOnSystemNode', 'EPERM'),
  40047: c('CodeCreateFSError', 'EIO'),
  40048: c('CodeCreateTaskError', 'EIO'),
  40049: c('CodeFileTooLarge', 'EFBIG'),
  40050: c('CodeFileTypeNotAllowed', 'EPERM'),
  40051: c('CodeInsufficientCapacity', 'ENOSPC'),
  40052: c('CodeIllegalObjectName', 'EINVAL'),
  40053: c('CodeRootProtected', 'EPERM'),
  40054: c('CodeConflictUploadOngoing', 'EBUSY'),
  40055: c('CodeMetaMismatch', 'EINVAL'),
  40056: c('CodeUnsupportedArchiveType', 'ENOTSUP'),
  40057: c('CodePolicyChanged', 'ESTALE'),
  40058: c('CodeShareLinkNotFound', 'ENOENT'),
  40059: c('CodeSaveOwnShare', 'EINVAL'),
  40060: c('CodeSlavePingMaster', 'EIO', true),
  40061: c('CodeVersionMismatch', 'EPROTO'),
  40062: c('CodeInsufficientCredit', 'EDQUOT'),
  40063: c('CodeGroupConflict', 'EINVAL'),
  40064: c('CodeGroupInvalid', 'EINVAL'),
  40065: c('CodeInvalidGiftCode', 'EINVAL'),
  40066: c('CodeOpenIDBindConflict', 'EEXIST'),
  40067: c('CodeOpenIDBindOtherAccount', 'EEXIST'),
  40068: c('CodeOpenIDNotLinked', 'EACCES'),
  40069: c('CodeIncorrectPassword', 'EACCES'),
  40070: c('CodeDisabledSharePreview', 'EACCES'),
  40071: c('CodeInvalidSign', 'EACCES'),
  40072: c('CodeFulfillAdminGroup', 'EPERM'),
  40073: c('CodeLockConflict', 'EBUSY'), // held by an upload, a WebDAV or a viewer lock
  40074: c('CodeTooManyUris', 'EINVAL'),
  40075: c('CodeLockExpired', 'ENOLCK'),
  40076: c('CodeStaleVersion', 'ESTALE'),
  40077: c('CodeEntityNotExist', 'ENOENT'),
  40078: c('CodeFileDeleted', 'ENOENT'),
  40079: c('CodeFileCountLimitedReached', 'EDQUOT'),
  40080: c('CodeInvalidPassword', 'EACCES'),
  40081: c('CodeBatchOperationNotFullyCompleted', 'EIO'), // normally unwrapped to the per-URI code
  40082: c('CodeOwnerOnly', 'EACCES'),
  40083: c('CodePurchaseRequired', 'EACCES'),
  40084: c('CodeManagedAccountMinimumOpenID', 'EPERM'),
  40085: c('CodeAmountTooSmall', 'EINVAL'),
  40086: c('CodeNodeUsedByStoragePolicy', 'EBUSY'),
  40087: c('CodeDomainNotLicensed', 'EACCES'),
  40088: c('CodeAnonymouseAccessDenied', 'EACCES'),
  40089: c('CodeInsufficientScope', 'EACCES'),
  50001: c('CodeDBError', 'EIO', true),
  50002: c('CodeEncryptError', 'EIO'),
  50004: c('CodeIOFailed', 'EIO', true),
  50005: c('CodeInternalSetting', 'EIO'),
  50006: c('CodeCacheOperation', 'EIO', true),
  50007: c('CodeCallbackError', 'EIO', true),
  50008: c('CodeUpdateSetting', 'EIO'),
  50009: c('CodeAddCORS', 'EIO'),
  50010: c('CodeNodeOffline', 'EAGAIN', true),
  50011: c('CodeQueryMetaFailed', 'EIO', true),
};

/** Errno and retry decision of any code; unknown codes are EIO and say their number. */
export function lookupCode(code: number): ErrorRule {
  return CLOUDREVE_CODES[code] ?? { name: `unknown Cloudreve code ${code}`, errno: 'EIO', retryable: false };
}
