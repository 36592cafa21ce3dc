using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Inspection;

/// <summary>Reads a reference and, for an index, its children side by side.</summary>
internal sealed class ImageInspector
{
    private readonly RegistryClient _client;

    public ImageInspector(RegistryClient client) => _client = client;

    /// <param name="name">The reference as the user wrote it.</param>
    /// <param name="includeChildConfigs">Also read each child image's config (the JSON format shows it; the text format does not need it).</param>
    public async Task<InspectResult> InspectAsync(string name, bool includeChildConfigs, CancellationToken cancellationToken)
    {
        var reference = ImageReference.Parse(name);
        var root = await _client.GetManifestAsync(reference, cancellationToken);
        switch (root)
        {
            case ImageManifest image:
                var config = await ReadConfigAsync(reference, image, cancellationToken);
                return new InspectResult(name, reference, root, config, []);
            case ImageIndex index:
                var children = await Task.WhenAll(index.Manifests.Select(d => ReadChildAsync(reference, d, includeChildConfigs, cancellationToken)));
                return new InspectResult(name, reference, root, null, children);
            default:
                throw MultiArchException.Create(MessageId.UnsupportedMediaType, name, root.MediaType);
        }
    }

    private async Task<InspectedChild> ReadChildAsync(ImageReference parent, Descriptor descriptor, bool includeConfig, CancellationToken cancellationToken)
    {
        if (!MediaTypes.IsKnownManifest(descriptor.MediaType))
        {
            return new InspectedChild(descriptor, null, null);
        }

        var manifest = await _client.GetManifestAsync(parent.WithDigest(descriptor.Digest), cancellationToken);
        var config = includeConfig && manifest is ImageManifest image && !descriptor.IsAttestation
            ? await ReadConfigAsync(parent, image, cancellationToken)
            : null;
        return new InspectedChild(descriptor, manifest, config);
    }

    private async Task<ImageConfig?> ReadConfigAsync(ImageReference repository, ImageManifest image, CancellationToken cancellationToken)
    {
        if (image.Config.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig))
        {
            return null; // an artifact: its config is not an image config
        }

        var bytes = await _client.GetBlobAsync(repository, image.Config, cancellationToken);
        return ImageConfig.Parse(bytes, $"{repository.Name}@{image.Config.Digest}");
    }
}
