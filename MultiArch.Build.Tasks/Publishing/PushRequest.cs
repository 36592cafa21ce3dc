using System.Collections.Immutable;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>What to push: the target, its tags, the per-platform sources and the index-level options.</summary>
/// <param name="Target">The reference the index is pushed to; its tag (if any) is the first tag pushed.</param>
/// <param name="ExtraTags">More tags for the same index, in the target's repository.</param>
/// <param name="Sources">The images to stitch, in order.</param>
/// <param name="Annotations">Index-level annotations (OCI only).</param>
/// <param name="Format"><c>oci</c>, <c>docker</c>, or null to choose (Docker only when every child is Docker).</param>
internal sealed record PushRequest(
    ImageReference Target,
    ImmutableArray<string> ExtraTags,
    ImmutableArray<SourceEntry> Sources,
    ImmutableSortedDictionary<string, string> Annotations,
    string? Format)
{
    /// <summary>Skip a source that does not exist (404), with a warning; never on other failures.</summary>
    public bool IgnoreMissing { get; init; }

    /// <summary>Resolve and build the index, but write nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>Annotations the build knows (source, revision, created): added to an OCI index, left out of a Docker list.</summary>
    public ImmutableSortedDictionary<string, string> DefaultAnnotations { get; init; } = ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>Read each image's config to check the given platform against it (costs one request per source).</summary>
    public bool VerifyPlatforms { get; init; } = true;

    /// <summary>Every tag to push, the target's first.</summary>
    public IEnumerable<string> AllTags => (Target.Tag is null ? [] : new[] { Target.Tag }).Concat(ExtraTags).Distinct(StringComparer.Ordinal);
}

/// <summary>One source image (or index) for the new index.</summary>
/// <param name="Image">The source reference.</param>
/// <param name="Platform">The platform the input gives, or null to read it from the image config.</param>
/// <param name="Annotations">Annotations for this entry's descriptor (OCI only).</param>
/// <param name="Origin">Where the entry came from, for messages: <c>spec.yaml(12,7)</c>, <c>ContainerPlatforms item 'linux/arm64'</c>.</param>
internal sealed record SourceEntry(
    ImageReference Image,
    Platform? Platform,
    ImmutableSortedDictionary<string, string> Annotations,
    string Origin)
{
    /// <summary>The manifest's descriptor when the caller already knows it (from publish outputs): saves a request.</summary>
    public Descriptor? Known { get; init; }

    /// <summary>The platform the image's config states, when the caller has the config (publish outputs): saves a request.</summary>
    public Platform? KnownConfigPlatform { get; init; }

    /// <summary>
    /// The manifest itself, when the caller has its bytes (publish outputs, checked against <see cref="Known"/>'s digest):
    /// no GET, and in the target's own repository no check either, since the build just pushed it there.
    /// </summary>
    public ManifestContent? KnownManifest { get; init; }
}

/// <summary>The outcome of a push (or of a dry run).</summary>
internal sealed record PushResult(ImageIndex Index, ImageReference Target, ImmutableArray<ImageReference> PushedReferences, bool DryRun)
{
    /// <summary>False when every tag already pointed at this exact index (nothing was written).</summary>
    public bool Changed { get; init; }

    public IEnumerable<Descriptor> Images => Index.Manifests.Where(d => !d.IsAttestation);
}
