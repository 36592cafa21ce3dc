using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Inspection;

/// <summary>
/// Everything <c>InspectImageManifest</c> read for one reference: the root manifest or index exactly as the registry
/// sent it and, for an index, every child entry with its manifest and config (when the child is an image).
/// </summary>
/// <param name="Name">The reference as the user wrote it (shown verbatim, as manifest-tool does).</param>
/// <param name="Reference">The parsed, normalised reference.</param>
/// <param name="Root">The manifest or index the reference resolves to.</param>
/// <param name="RootConfig">For a single image: its config; null for an index.</param>
/// <param name="Children">For an index: one entry per descriptor, in index order; empty for a single image.</param>
internal sealed record InspectResult(
    string Name,
    ImageReference Reference,
    ManifestContent Root,
    ImageConfig? RootConfig,
    IReadOnlyList<InspectedChild> Children);

/// <summary>One entry of an inspected index.</summary>
/// <param name="Descriptor">The descriptor as the index lists it (platform and annotations from the index).</param>
/// <param name="Manifest">The child manifest, or null when it is not an image manifest (a nested index is kept as ImageIndex).</param>
/// <param name="Config">The child's config, or null for attestations and non-images.</param>
internal sealed record InspectedChild(Descriptor Descriptor, ManifestContent? Manifest, ImageConfig? Config);
