using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// The one registry client every task uses: the OCI distribution API as <see cref="Manifests"/> and <see cref="Blobs"/>,
/// over one send pipeline of small parts, outermost first:
/// <see cref="RedirectHandler"/> (follows redirects of reads) → <see cref="RetryHandler"/> (transient failures, backoff)
/// → <see cref="SchemeHandler"/> (HTTPS, or plain HTTP for insecure registries) → <see cref="AuthHandler"/> (challenges,
/// Basic and Bearer through <see cref="TokenService"/>) → <see cref="RegistryWire"/> (one <see cref="HttpClient"/>,
/// bounded requests in flight, timeouts). The operations below forward to the two clients.
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    private readonly RegistryWire _wire;
    private readonly RegistrySettings _settings;
    private readonly IRegistrySender _send;

    public RegistryClient(RegistrySettings settings)
    {
        _settings = settings;
        _wire = new RegistryWire(settings);
        var tokens = new TokenService(settings, _wire);
        var errors = new RegistryErrors(settings, tokens);
        _send = new RedirectHandler(
            new RetryHandler(settings, new SchemeHandler(settings, new AuthHandler(settings, tokens, _wire, _wire.UriOf)), _wire.UriOf),
            _wire.UriOf);
        Manifests = new ManifestClient(settings, _send, errors, _wire.UriOf);
        Blobs = new BlobClient(settings, _send, errors, _wire.UriOf);
    }

    public ManifestClient Manifests { get; }

    public BlobClient Blobs { get; }

    /// <summary>Requests sent so far (registry and token service), for the summary and the benchmarks.</summary>
    public int RequestCount => _wire.RequestCount;

    public void Dispose() => _wire.Dispose();

    /// <summary>
    /// Whether <paramref name="registry"/> asks for a login: one <c>GET /v2/</c> (the version check <c>docker login</c>
    /// sends). False only when it is answered with success and no challenge (Basic or Bearer) on the way.
    /// </summary>
    public async Task<bool> AsksForLoginAsync(string registry, CancellationToken cancellationToken)
    {
        using var response = await _send.SendAsync(new RegistryRequest(registry, HttpMethod.Get, "/v2/"), cancellationToken);
        return !response.IsSuccessStatusCode || _settings.State.GetChallenge(registry) is not null;
    }

    // ---------------------------------------------------------------- manifests (see ManifestClient)

    public Task<ManifestContent> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken) =>
        Manifests.GetManifestAsync(reference, cancellationToken);

    public Task<ManifestContent?> TryGetManifestAsync(ImageReference reference, RegistryAccess access, CancellationToken cancellationToken) =>
        Manifests.TryGetManifestAsync(reference, access, cancellationToken);

    public Task<Descriptor?> HeadManifestAsync(ImageReference reference, CancellationToken cancellationToken) =>
        Manifests.HeadManifestAsync(reference, cancellationToken);

    public Task<Descriptor?> HeadManifestAsync(ImageReference reference, RegistryAccess access, CancellationToken cancellationToken) =>
        Manifests.HeadManifestAsync(reference, access, cancellationToken);

    public Task PutManifestAsync(ImageReference target, ManifestContent content, CancellationToken cancellationToken) =>
        Manifests.PutManifestAsync(target, content, cancellationToken);

    public Task<ServedManifest> GetManifestAsServedAsync(ImageReference reference, CancellationToken cancellationToken) =>
        Manifests.GetManifestAsServedAsync(reference, cancellationToken);

    public Task<(RegistryAnswer Answer, ImageIndex? Index)> GetReferrersAsync(ImageReference repository, Digest subject, CancellationToken cancellationToken) =>
        Manifests.GetReferrersAsync(repository, subject, cancellationToken);

    public Task<(RegistryAnswer Answer, IReadOnlyList<string> Tags)> ListTagsAsync(ImageReference repository, CancellationToken cancellationToken) =>
        Manifests.ListTagsAsync(repository, cancellationToken);

    public Task<RegistryAnswer> DeleteReferenceAsync(ImageReference reference, CancellationToken cancellationToken) =>
        Manifests.DeleteReferenceAsync(reference, cancellationToken);

    // ---------------------------------------------------------------- blobs (see BlobClient)

    public Task<byte[]> GetBlobAsync(ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken) =>
        Blobs.GetBlobAsync(repository, descriptor, cancellationToken);

    public Task<bool> BlobExistsAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken) =>
        Blobs.BlobExistsAsync(repository, digest, cancellationToken);

    public Task<bool> TryMountBlobAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken) =>
        Blobs.TryMountBlobAsync(target, digest, fromRepository, cancellationToken);

    public Task CopyBlobAsync(ImageReference source, ImageReference target, Descriptor blob, CancellationToken cancellationToken) =>
        Blobs.CopyBlobAsync(source, target, blob, cancellationToken);

    public Task UploadBlobAsync(ImageReference target, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        Blobs.UploadBlobAsync(target, content, cancellationToken);

    public Task<(RegistryAnswer Answer, int Chunks)> UploadBlobChunkedAsync(ImageReference target, ReadOnlyMemory<byte> content, int chunkSize, CancellationToken cancellationToken) =>
        Blobs.UploadBlobChunkedAsync(target, content, chunkSize, cancellationToken);

    public Task<RegistryAnswer> MountBlobAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken) =>
        Blobs.MountBlobAsync(target, digest, fromRepository, cancellationToken);

    public Task<RegistryAnswer> DeleteBlobAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken) =>
        Blobs.DeleteBlobAsync(repository, digest, cancellationToken);
}
