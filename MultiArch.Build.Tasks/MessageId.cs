namespace MultiArch.Build.Tasks;

/// <summary>The names of the messages in <c>Resources/Strings.resx</c>; a unit test checks each exists.</summary>
internal static class MessageId
{
    public const string RegistryUnreachable = nameof(RegistryUnreachable);
    public const string TlsUntrusted = nameof(TlsUntrusted);
    public const string AuthenticationFailed = nameof(AuthenticationFailed);
    public const string AuthenticationRequired = nameof(AuthenticationRequired);
    public const string AccessDenied = nameof(AccessDenied);
    public const string UnexpectedStatus = nameof(UnexpectedStatus);
    public const string PlainHttpRegistry = nameof(PlainHttpRegistry);
    public const string RequestTimedOut = nameof(RequestTimedOut);
    public const string TokenRequestFailed = nameof(TokenRequestFailed);
    public const string CredentialHelperFailed = nameof(CredentialHelperFailed);
    public const string DockerConfigInvalid = nameof(DockerConfigInvalid);
    public const string RealmNotAllowed = nameof(RealmNotAllowed);
    public const string RetryAfterTooLong = nameof(RetryAfterTooLong);
    public const string Cancelled = nameof(Cancelled);
    public const string TooManyRetries = nameof(TooManyRetries);
    public const string InvalidReference = nameof(InvalidReference);
    public const string InvalidDigest = nameof(InvalidDigest);
    public const string ManifestNotFound = nameof(ManifestNotFound);
    public const string RepositoryNotFound = nameof(RepositoryNotFound);
    public const string DigestMismatch = nameof(DigestMismatch);
    public const string ManifestTooLarge = nameof(ManifestTooLarge);
    public const string UnsupportedMediaType = nameof(UnsupportedMediaType);
    public const string InvalidManifest = nameof(InvalidManifest);
    public const string InvalidPlatform = nameof(InvalidPlatform);
    public const string MissingRequiredPlatforms = nameof(MissingRequiredPlatforms);
    public const string ContentTypeMismatch = nameof(ContentTypeMismatch);
    public const string BlobTooLarge = nameof(BlobTooLarge);
    public const string PlatformMismatch = nameof(PlatformMismatch);
    public const string DuplicatePlatform = nameof(DuplicatePlatform);
    public const string DockerListNeedsDockerManifests = nameof(DockerListNeedsDockerManifests);
    public const string AnnotationsNeedOci = nameof(AnnotationsNeedOci);
    public const string ChildNotPresent = nameof(ChildNotPresent);
    public const string InvalidTag = nameof(InvalidTag);
    public const string AllSourcesMissing = nameof(AllSourcesMissing);
    public const string SourceNotUsable = nameof(SourceNotUsable);
    public const string UnknownPlatformInConfig = nameof(UnknownPlatformInConfig);
    public const string SpecNotFound = nameof(SpecNotFound);
    public const string SpecSyntax = nameof(SpecSyntax);
    public const string SpecUnknownKey = nameof(SpecUnknownKey);
    public const string SpecWrongType = nameof(SpecWrongType);
    public const string SpecMissingKey = nameof(SpecMissingKey);
    public const string SpecTooLarge = nameof(SpecTooLarge);
    public const string SpecInvalidValue = nameof(SpecInvalidValue);
    public const string SpecUnreadable = nameof(SpecUnreadable);
    public const string UnexpectedError = nameof(UnexpectedError);
    public const string UnknownInspectFormat = nameof(UnknownInspectFormat);
    public const string InspectImageMissing = nameof(InspectImageMissing);
    public const string NoManifestInput = nameof(NoManifestInput);
    public const string ConflictingManifestInputs = nameof(ConflictingManifestInputs);
    public const string MissingManifestArgument = nameof(MissingManifestArgument);
    public const string InvalidAnnotation = nameof(InvalidAnnotation);
    public const string UnknownManifestFormat = nameof(UnknownManifestFormat);
    public const string InvalidTimeout = nameof(InvalidTimeout);
    public const string Summary_Pushed = nameof(Summary_Pushed);
    public const string Summary_DryRun = nameof(Summary_DryRun);
    public const string Info_UsingSdkPasswordVariable = nameof(Info_UsingSdkPasswordVariable);
    public const string UnknownRuntimeIdentifier = nameof(UnknownRuntimeIdentifier);
    public const string NoRuntimeIdentifierForPlatform = nameof(NoRuntimeIdentifierForPlatform);
    public const string PlatformRidMismatch = nameof(PlatformRidMismatch);
    public const string RegistryMissing = nameof(RegistryMissing);
    public const string RepositoryInvalid = nameof(RepositoryInvalid);
    public const string RestoreMissingRuntimeIdentifiers = nameof(RestoreMissingRuntimeIdentifiers);
    public const string NoPlatforms = nameof(NoPlatforms);
    public const string InnerPublishNoImage = nameof(InnerPublishNoImage);
    public const string GeneratedManifestMismatch = nameof(GeneratedManifestMismatch);
    public const string OperationTimedOut = nameof(OperationTimedOut);

    // TestContainerRegistry (issue 7)
    public const string RegistryCapabilityMissing = nameof(RegistryCapabilityMissing);
    public const string RegistryTestLeftBehind = nameof(RegistryTestLeftBehind);
    public const string RegistryTestRepositoryMissing = nameof(RegistryTestRepositoryMissing);
    public const string UnknownRegistryCapability = nameof(UnknownRegistryCapability);
    public const string RegistryTestRepositoryHasTag = nameof(RegistryTestRepositoryHasTag);
    public const string RegistryTestSourceInvalid = nameof(RegistryTestSourceInvalid);
    public const string Summary_RegistryTested = nameof(Summary_RegistryTested);

    // Reliability (issue 5)
    public const string PutOutcomeUnknown = nameof(PutOutcomeUnknown);
    public const string InsecureLocation = nameof(InsecureLocation);

    // Publishing in the field (issue 10a)
    public const string OutputFileNotWritable = nameof(OutputFileNotWritable);
    public const string SdkHasNoCredentials = nameof(SdkHasNoCredentials);
    public const string BaseImageLacksPlatform = nameof(BaseImageLacksPlatform);
    public const string PublishNeedsOneTargetFramework = nameof(PublishNeedsOneTargetFramework);
    public const string MSBuildTooOld = nameof(MSBuildTooOld);
    // Terminal output (issue 10)
    public const string Info_RawOnConsole = nameof(Info_RawOnConsole);
    // The multiarch command line (issue 12)
    public const string CliUnknownOption = nameof(CliUnknownOption);
    public const string CliMissingOptionValue = nameof(CliMissingOptionValue);
    public const string CliInvalidOptionValue = nameof(CliInvalidOptionValue);
    public const string CliUnknownCommand = nameof(CliUnknownCommand);
    public const string CliOptionNotForCommand = nameof(CliOptionNotForCommand);
    public const string CliMissingArgument = nameof(CliMissingArgument);
    public const string CliUnexpectedArgument = nameof(CliUnexpectedArgument);
    public const string CliMissingOption = nameof(CliMissingOption);
    public const string CliDockerConfigNotFound = nameof(CliDockerConfigNotFound);
    public const string CliExpandConfigNeedsRaw = nameof(CliExpandConfigNeedsRaw);
    public const string CliConflictingOptions = nameof(CliConflictingOptions);
    public const string CliRawCannotShow = nameof(CliRawCannotShow);
    // Registry client (issue 11)
    public const string SourceBlobFailed = nameof(SourceBlobFailed);
    public const string ManifestMediaTypeRefused = nameof(ManifestMediaTypeRefused);
    public const string NothingListening = nameof(NothingListening);
    public const string TooManyRedirects = nameof(TooManyRedirects);
    public const string NotARegistryAnswer = nameof(NotARegistryAnswer);
}
