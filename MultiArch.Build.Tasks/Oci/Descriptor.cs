using System.Collections.Immutable;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>A content descriptor: media type, digest and size, with the optional platform, annotations and artifact type.</summary>
internal sealed record Descriptor(string MediaType, Digest Digest, long Size)
{
    public Platform? Platform { get; init; }

    public ImmutableSortedDictionary<string, string> Annotations { get; init; } = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    public string? ArtifactType { get; init; }

    public ImmutableArray<string> Urls { get; init; } = [];

    /// <summary>BuildKit marks attestation manifests in an index with this annotation.</summary>
    public const string ReferenceTypeAnnotation = "vnd.docker.reference.type";

    public const string ReferenceDigestAnnotation = "vnd.docker.reference.digest";

    public bool IsAttestation =>
        Annotations.TryGetValue(ReferenceTypeAnnotation, out var type) && type == "attestation-manifest";

    public string? AttestationSubject =>
        Annotations.TryGetValue(ReferenceDigestAnnotation, out var subject) ? subject : null;
}
