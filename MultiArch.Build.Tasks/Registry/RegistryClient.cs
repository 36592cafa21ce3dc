using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// The one registry client every task uses: the OCI distribution API over one <see cref="HttpClient"/>, with
/// challenge-driven Basic and Bearer authentication, verified digests, bounded reads, retries for idempotent
/// requests and a bounded number of requests in flight.
/// </summary>
internal sealed partial class RegistryClient : IDisposable
{
    public const int MaxManifestBytes = 4 * 1024 * 1024;
    public const int MaxConfigBytes = 16 * 1024 * 1024;
    public const int MaxErrorBytes = 64 * 1024;

    private readonly RegistrySettings _settings;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _inFlight;
    private readonly IBuildLog _log;
    private int _requestCount;

    public RegistryClient(RegistrySettings settings)
    {
        _settings = settings;
        _log = settings.Log;
        _inFlight = new SemaphoreSlim(Math.Max(1, settings.MaxConcurrency));
        LoopbackSchemeHandler.Assume(settings);
        _http = new HttpClient(new LoopbackSchemeHandler(settings, settings.TransportFactory?.Invoke() ?? CreateTransport(settings), () => Interlocked.Increment(ref _requestCount)), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(settings.UserAgent);
    }

    /// <summary>Requests sent so far (registry and token service), for the summary and the benchmarks.</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    public RegistrySettings Settings => _settings;

    public void Dispose()
    {
        _http.Dispose();
        _inFlight.Dispose();
    }

    private static SocketsHttpHandler CreateTransport(RegistrySettings settings) => new()
    {
        ConnectTimeout = settings.ConnectTimeout,
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = true,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = Math.Max(2, settings.MaxConcurrency),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),

        // No trace-context headers to registries (they would carry the build's activity ids), and no diagnostics handler
        // to set up on the first request of the process.
        ActivityHeadersPropagator = null,
        SslOptions = new SslClientAuthenticationOptions
        {
            // A certificate error is accepted only for hosts the user listed as insecure (and localhost).
            RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                errors == SslPolicyErrors.None ||
                (sender is SslStream stream && settings.IsInsecureHost(stream.TargetHostName)),
        },
    };

    // ---------------------------------------------------------------- manifests

    /// <summary>Reads a manifest or index by tag or digest; the bytes are kept and their digest verified.</summary>
    public async Task<ManifestContent> GetManifestAsync(ImageReference reference, CancellationToken cancellationToken) =>
        (await GetManifestCoreAsync(reference, RegistryAccess.Pull, missingIsNull: false, cancellationToken))!;

    /// <summary>
    /// As <see cref="GetManifestAsync"/>, but null when there is nothing under that tag or digest (one request either
    /// way): where a HEAD would only give the digest, this gives the content too for the same round trip.
    /// <paramref name="access"/> <see cref="RegistryAccess.Push"/> asks for the token a push needs anyway (a target
    /// about to be written), so the check and the writes share one token.
    /// </summary>
    public Task<ManifestContent?> TryGetManifestAsync(ImageReference reference, RegistryAccess access, CancellationToken cancellationToken) =>
        GetManifestCoreAsync(reference, access, missingIsNull: true, cancellationToken);

    private Task<ManifestContent?> GetManifestCoreAsync(ImageReference reference, RegistryAccess access, bool missingIsNull, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(reference.Registry, HttpMethod.Get, $"/v2/{reference.Repository}/manifests/{reference.ReferenceForApi}")
        {
            Scopes = [ScopeFor(reference.Repository, access)],
            Accept = MediaTypes.ManifestAccept,
        };
        return RetryBrokenBodyAsync(request, () => GetManifestOnceAsync(request, reference, missingIsNull, cancellationToken), cancellationToken);
    }

    private async Task<ManifestContent?> GetManifestOnceAsync(RegistryRequest request, ImageReference reference, bool missingIsNull, CancellationToken cancellationToken)
    {
        using var response = await SendFollowingRedirectsAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            if (missingIsNull)
            {
                return null;
            }

            throw await NotFoundAsync(request, response, reference, cancellationToken);
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await ErrorAsync(request, response, reference, cancellationToken);
        }

        if (response.Content.Headers.ContentType?.MediaType is "text/html" && response.RequestMessage?.RequestUri is { } servedFrom)
        {
            // A page for people (a captive portal, a proxy's login) where a manifest should be.
            throw MultiArchException.Create(MessageId.NotARegistryAnswer, request.Method, RegistryException.Redact(servedFrom), "text/html");
        }

        var bytes = await ReadBoundedAsync(response, MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, reference.Original, MaxManifestBytes), cancellationToken, _settings.BodyIdleTimeout);
        var actual = Digest.FromContent(bytes);
        var expected = reference.Digest ?? HeaderDigest(response);
        if (expected is { } want && !want.Matches(bytes))
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, reference.Original, actual, want);
        }

        return ManifestContent.Parse(bytes, response.Content.Headers.ContentType?.MediaType, reference.ToString());
    }

    /// <summary>
    /// A missing manifest: one more request (only on this failure path) tells a missing repository from a missing
    /// tag, and names the tags that do exist.
    /// </summary>
    private async Task<MultiArchException> NotFoundAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, CancellationToken cancellationToken)
    {
        var error = await ErrorAsync(request, response, reference, cancellationToken);
        if (error is not RegistryException { IsNotFound: true } notFound || notFound.ErrorCodes.Contains("NAME_UNKNOWN"))
        {
            return error;
        }

        var tagsRequest = new RegistryRequest(reference.Registry, HttpMethod.Get, $"/v2/{reference.Repository}/tags/list?n=20")
        {
            Scopes = [PullScope(reference.Repository)],
        };
        try
        {
            using var tags = await SendAsync(tagsRequest, cancellationToken);
            if (tags.StatusCode == HttpStatusCode.NotFound)
            {
                // Whatever the body holds (nothing, at some registries): no tag list means no repository.
                return RegistryException.From(MessageId.RepositoryNotFound, request.Method.Method, new Uri("https://" + reference.Registry + request.PathAndQuery), HttpStatusCode.NotFound, ["NAME_UNKNOWN"], reference.Registry, reference.Repository, reference.Original);
            }

            var body = await ReadBoundedAsync(tags, MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
            using var document = JsonDocument.Parse(body);

            var names = document.RootElement.TryGetProperty("tags", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!).Take(10).ToList()
                : [];
            return names.Count == 0
                ? error
                : new RegistryException(notFound.Code, $"{notFound.Message} Tags in '{reference.Repository}' include: {string.Join(", ", names)}.", notFound.Method, notFound.Url, notFound.StatusCode, notFound.ErrorCodes);
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or MultiArchException)
        {
            return error;
        }
    }

    /// <summary>HEAD of a manifest: its descriptor (media type, digest, size), or null when it does not exist.</summary>
    public Task<Descriptor?> HeadManifestAsync(ImageReference reference, CancellationToken cancellationToken) =>
        HeadManifestAsync(reference, RegistryAccess.Pull, cancellationToken);

    /// <summary>As <see cref="HeadManifestAsync(ImageReference, CancellationToken)"/>, with the token for <paramref name="access"/>.</summary>
    public async Task<Descriptor?> HeadManifestAsync(ImageReference reference, RegistryAccess access, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(reference.Registry, HttpMethod.Head, $"/v2/{reference.Repository}/manifests/{reference.ReferenceForApi}")
        {
            Scopes = [ScopeFor(reference.Repository, access)],
            Accept = MediaTypes.ManifestAccept,
        };
        using var response = await SendFollowingRedirectsAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await ErrorAsync(request, response, reference, cancellationToken);
        }

        var digest = HeaderDigest(response) ?? reference.Digest;
        var mediaType = ManifestContent.NormalizeContentType(response.Content.Headers.ContentType?.ToString());
        var size = response.Content.Headers.ContentLength;
        if (digest is null || mediaType is null || size is null)
        {
            // Some registries omit headers on HEAD: fall back to reading the manifest.
            var manifest = await GetManifestAsync(reference, cancellationToken);
            return manifest.ToDescriptor();
        }

        return new Descriptor(mediaType, digest.Value, size.Value);
    }

    /// <summary>
    /// Pushes manifest bytes under a tag or a digest; checks the digest the registry computed. When the push fails in a
    /// way that may hide a success (a reset after the registry applied it, a lost answer), the reference is read back:
    /// pointing at these bytes, it succeeded; unreadable, the outcome is unknown (<c>MULTIARCH1019</c>).
    /// </summary>
    public async Task PutManifestAsync(ImageReference target, ManifestContent content, CancellationToken cancellationToken)
    {
        try
        {
            await PutManifestOnceAsync(target, content, cancellationToken);
        }
        catch (MultiArchException ex) when (MayHaveBeenApplied(ex) && !cancellationToken.IsCancellationRequested)
        {
            await CheckAppliedAsync(target, content, ex, cancellationToken);
        }
    }

    private async Task PutManifestOnceAsync(ImageReference target, ManifestContent content, CancellationToken cancellationToken)
    {
        var request = ManifestPut(target, content);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
        {
            throw await ErrorAsync(request, response, target, cancellationToken);
        }

        if (HeaderDigest(response) is { } reported && reported != content.Digest)
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, target.ToString(), reported, content.Digest);
        }
    }

    // ---------------------------------------------------------------- blobs

    /// <summary>Reads a small blob (an image config) with its digest and size verified.</summary>
    public async Task<byte[]> GetBlobAsync(ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Size > MaxConfigBytes)
        {
            throw MultiArchException.Create(MessageId.BlobTooLarge, descriptor.Digest, MaxConfigBytes);
        }

        var request = new RegistryRequest(repository.Registry, HttpMethod.Get, $"/v2/{repository.Repository}/blobs/{descriptor.Digest}")
        {
            Scopes = [PullScope(repository.Repository)],
        };
        return await RetryBrokenBodyAsync(request, () => GetBlobOnceAsync(request, repository, descriptor, cancellationToken), cancellationToken);
    }

    private async Task<byte[]> GetBlobOnceAsync(RegistryRequest request, ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        using var response = await SendFollowingRedirectsAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await ErrorAsync(request, response, repository, cancellationToken);
        }

        var bytes = await ReadBoundedAsync(response, (int)Math.Min(MaxConfigBytes, descriptor.Size), () => MultiArchException.Create(MessageId.BlobTooLarge, descriptor.Digest, descriptor.Size), cancellationToken, _settings.BodyIdleTimeout);
        if (!descriptor.Digest.Matches(bytes))
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, $"{repository.Name}@{descriptor.Digest}", Digest.FromContent(bytes), descriptor.Digest);
        }

        return bytes;
    }

    /// <summary>HEAD of a blob: whether the repository holds it (200, or a redirect to storage) or not (404).</summary>
    public async Task<bool> BlobExistsAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(repository.Registry, HttpMethod.Head, $"/v2/{repository.Repository}/blobs/{digest}")
        {
            Scopes = [PullScope(repository.Repository)],
        };
        using var response = await SendAsync(request, cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.NotFound => false,

            // A registry on object storage (S3, GCS, Azure) redirects to the blob's storage URL: it has the blob. Such a
            // URL is often signed for GET only, so following it with a HEAD would prove nothing.
            _ when IsRedirect(response.StatusCode) => true,
            _ => throw await ErrorAsync(request, response, repository, cancellationToken),
        };
    }

    /// <summary>
    /// Asks the registry to mount a blob from another repository. True when it did (201); false when it refused
    /// (202 with an upload session, which is cancelled, or an error), so the caller streams the blob instead.
    /// </summary>
    public async Task<bool> TryMountBlobAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        var request = MountRequest(target, digest, fromRepository);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            return true;
        }

        _log.Message(LogLevel.Low, $"MultiArch: the registry refused to mount {digest} from '{fromRepository}' into '{target.Repository}' (HTTP {(int)response.StatusCode}); copying it instead.");
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
        {
            await CancelUploadAsync(target, location, cancellationToken);
        }

        return false;
    }

    /// <summary>Streams a blob from one repository (on any registry) into another, verifying its digest on the way.</summary>
    public async Task CopyBlobAsync(ImageReference source, ImageReference target, Descriptor blob, CancellationToken cancellationToken)
    {
        var get = new RegistryRequest(source.Registry, HttpMethod.Get, $"/v2/{source.Repository}/blobs/{blob.Digest}")
        {
            Scopes = [PullScope(source.Repository)],
        };
        using var download = await SendFollowingRedirectsAsync(get, cancellationToken);
        if (download.StatusCode != HttpStatusCode.OK)
        {
            throw await ErrorAsync(get, download, source, cancellationToken);
        }

        var start = StartUpload(target);
        using var session = await SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            throw await ErrorAsync(start, session, target, cancellationToken);
        }

        var location = ResolveLocation(start, session.Headers.Location);
        var separator = location.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        await using var stream = await download.Content.ReadAsStreamAsync(cancellationToken);
        await using var verifying = new VerifyingStream(stream, blob.Digest, blob.Size);
        var content = new StreamingBody(verifying, blob.Size, reason => MultiArchException.Create(MessageId.SourceBlobFailed, blob.Digest, source.Registry, verifying.Position, blob.Size, target.Registry, reason));
        var put = new RegistryRequest(target.Registry, HttpMethod.Put, location + separator + "digest=" + Uri.EscapeDataString(blob.Digest.ToString()))
        {
            Scopes = [PushScope(target.Repository)],
            Content = () => content,
            AbsoluteLocation = location.StartsWith("http", StringComparison.OrdinalIgnoreCase),
        };
        try
        {
            using var done = await SendAsync(put, cancellationToken);
            var accepted = done.StatusCode is HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK;
            if (!accepted && !verifying.IsComplete)
            {
                // The registry stopped reading: its answer is the reason, not the bytes it never saw.
                throw await ErrorAsync(put, done, target, cancellationToken);
            }

            // Every byte went through: a digest that does not match is the source's (or a proxy's) doing.
            verifying.ThrowIfMismatch($"{source.Name}@{blob.Digest}");
            if (!accepted)
            {
                throw await ErrorAsync(put, done, target, cancellationToken);
            }
        }
        catch (MultiArchException)
        {
            await CancelUploadAsync(target, session.Headers.Location, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Uploads bytes as a blob (monolithic POST+PUT); used to seed images and by the registry self-test.</summary>
    public async Task UploadBlobAsync(ImageReference target, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var digest = Digest.FromContent(content.Span);
        var start = StartUpload(target);
        using var session = await SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            throw await ErrorAsync(start, session, target, cancellationToken);
        }

        var put = MonolithicPut(target, ResolveLocation(start, session.Headers.Location), digest, content);
        using var done = await SendAsync(put, cancellationToken);
        if (done.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK))
        {
            throw await ErrorAsync(put, done, target, cancellationToken);
        }
    }

    /// <summary>The PUT of manifest bytes under a tag or digest, with their media type (idempotent: the same bytes, the same digest).</summary>
    private static RegistryRequest ManifestPut(ImageReference target, ManifestContent content) =>
        new(target.Registry, HttpMethod.Put, $"/v2/{target.Repository}/manifests/{target.ReferenceForApi}")
        {
            Scopes = [PushScope(target.Repository)],
            Content = () =>
            {
                var body = new ReadOnlyMemoryContent(content.Raw);
                body.Headers.ContentType = new MediaTypeHeaderValue(content.MediaType);
                return body;
            },
            Idempotent = true,
            Manifest = content,
        };

    /// <summary>The POST that asks to mount <paramref name="digest"/> from <paramref name="fromRepository"/> (pull there, push here).</summary>
    private static RegistryRequest MountRequest(ImageReference target, Digest digest, string fromRepository) =>
        new(target.Registry, HttpMethod.Post, $"/v2/{target.Repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(fromRepository)}")
        {
            Scopes = [PushScope(target.Repository), PullScope(fromRepository)],
            Content = () => new ByteArrayContent([]),
            Idempotent = true,
        };

    /// <summary>The POST that opens an upload session in <paramref name="target"/>'s repository.</summary>
    private static RegistryRequest StartUpload(ImageReference target) =>
        new(target.Registry, HttpMethod.Post, $"/v2/{target.Repository}/blobs/uploads/")
        {
            Scopes = [PushScope(target.Repository)],
            Content = () => new ByteArrayContent([]),
        };

    /// <summary>The PUT that completes an upload session at <paramref name="location"/> with all the bytes at once.</summary>
    private static RegistryRequest MonolithicPut(ImageReference target, string location, Digest digest, ReadOnlyMemory<byte> content)
    {
        var separator = location.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        return new RegistryRequest(target.Registry, HttpMethod.Put, location + separator + "digest=" + Uri.EscapeDataString(digest.ToString()))
        {
            Scopes = [PushScope(target.Repository)],
            Content = () =>
            {
                var body = new ReadOnlyMemoryContent(content);
                body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                return body;
            },
            AbsoluteLocation = location.StartsWith("http", StringComparison.OrdinalIgnoreCase),
        };
    }

    private async Task CancelUploadAsync(ImageReference target, Uri location, CancellationToken cancellationToken)
    {
        try
        {
            var path = location.IsAbsoluteUri ? location.ToString() : location.OriginalString;
            var request = new RegistryRequest(target.Registry, HttpMethod.Delete, path)
            {
                Scopes = [PushScope(target.Repository)],
                AbsoluteLocation = location.IsAbsoluteUri,
            };
            using var _ = await SendAsync(request, cancellationToken);
        }
        catch (MultiArchException)
        {
            // Best effort: an abandoned upload session expires on its own.
        }
    }

    private static string ResolveLocation(RegistryRequest request, Uri location) =>
        location.IsAbsoluteUri ? location.ToString() : location.OriginalString;

    internal static string PullScope(string repository) => $"repository:{repository}:pull";

    internal static string PushScope(string repository) => $"repository:{repository}:pull,push";

    private static string ScopeFor(string repository, RegistryAccess access) => access == RegistryAccess.Push ? PushScope(repository) : PullScope(repository);

    private static Digest? HeaderDigest(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var digest) ? digest : null;

    /// <summary>
    /// Reads a response body of at most <paramref name="max"/> bytes; with <paramref name="idle"/>, a body that sends no
    /// byte for that long fails with a <see cref="TimeoutException"/> (however long the whole body takes).
    /// </summary>
    internal static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, int max, Func<Exception> tooLarge, CancellationToken cancellationToken, TimeSpan? idle = null)
    {
        if (response.Content.Headers.ContentLength is { } length && length > max)
        {
            throw tooLarge();
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int read;
        while (true)
        {
            if (idle is { } limit)
            {
                stall.CancelAfter(limit);
            }

            try
            {
                read = await stream.ReadAsync(chunk, stall.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no bytes for {idle!.Value.TotalSeconds:0.#} s");
            }

            if (read == 0)
            {
                break;
            }

            if (buffer.Length + read > max)
            {
                throw tooLarge();
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    // ================================================================ registry self-test (TestContainerRegistry)
    // What RegistryCapabilityTester needs beyond pushing and reading: a chunked upload, a mount, manifest PUTs and GETs,
    // the referrers API, tag listing and deletes, each returning the registry's answer as data (status, error codes,
    // message) instead of throwing, so that a refusal is a result to report. Transport failures (unreachable, TLS,
    // timeouts, credentials) still throw as everywhere else. Nothing here retries a request that is not idempotent.

    /// <summary>
    /// Uploads bytes as a blob in one request (POST, then PUT with the digest and the bytes) and reports the answer to
    /// the failing step or to the PUT; a refused PUT cancels the session.
    /// </summary>
    public async Task<RegistryAnswer> UploadBlobForAnswerAsync(ImageReference target, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var digest = Digest.FromContent(content.Span);
        var start = StartUpload(target);
        using var session = await SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            return await AnswerAsync(start, session, target, cancellationToken);
        }

        var put = MonolithicPut(target, ResolveLocation(start, session.Headers.Location), digest, content);
        using var done = await SendAsync(put, cancellationToken);
        var answer = await AnswerAsync(put, done, target, cancellationToken);
        if (!answer.IsSuccess)
        {
            await CancelUploadAsync(target, session.Headers.Location, CancellationToken.None);
        }

        return answer;
    }

    /// <summary>
    /// Uploads bytes as a blob in chunks: POST to open a session, one PATCH per chunk with <c>Content-Range: start-end</c>,
    /// then PUT with the digest and no body. Chunks are at most <paramref name="chunkSize"/> bytes, unless the registry
    /// asks for larger ones (<c>OCI-Chunk-Min-Length</c>). A refused step cancels the session.
    /// </summary>
    /// <returns>The registry's answer to the failing step, or to the final PUT; and the number of PATCH requests sent.</returns>
    public async Task<(RegistryAnswer Answer, int Chunks)> UploadBlobChunkedAsync(ImageReference target, ReadOnlyMemory<byte> content, int chunkSize, CancellationToken cancellationToken)
    {
        var digest = Digest.FromContent(content.Span);
        var start = StartUpload(target);
        using var session = await SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            return (await AnswerAsync(start, session, target, cancellationToken), 0);
        }

        if (session.Headers.TryGetValues("OCI-Chunk-Min-Length", out var minimums) && int.TryParse(minimums.FirstOrDefault(), out var minimum) && minimum > chunkSize)
        {
            chunkSize = minimum;
        }

        chunkSize = Math.Max(1, chunkSize);
        var location = ResolveLocation(start, session.Headers.Location);
        var chunks = 0;
        for (var offset = 0; offset < content.Length; offset += chunkSize)
        {
            var chunk = content.Slice(offset, Math.Min(chunkSize, content.Length - offset));
            var range = $"{offset}-{offset + chunk.Length - 1}";
            var patch = new RegistryRequest(target.Registry, HttpMethod.Patch, location)
            {
                Scopes = [PushScope(target.Repository)],
                Content = () =>
                {
                    var body = new ReadOnlyMemoryContent(chunk);
                    body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    // The distribution form, "start-end" (inclusive), not HTTP's "bytes start-end/total".
                    body.Headers.TryAddWithoutValidation("Content-Range", range);
                    return body;
                },
                AbsoluteLocation = location.StartsWith("http", StringComparison.OrdinalIgnoreCase),
            };
            using var patched = await SendAsync(patch, cancellationToken);
            chunks++;
            if (patched.StatusCode != HttpStatusCode.Accepted)
            {
                var refused = await AnswerAsync(patch, patched, target, cancellationToken);
                await CancelUploadAsync(target, new Uri(location, UriKind.RelativeOrAbsolute), CancellationToken.None);
                return (refused, chunks);
            }

            if (patched.Headers.Location is { } next)
            {
                location = ResolveLocation(patch, next);
            }
        }

        var separator = location.Contains('?', StringComparison.Ordinal) ? "&" : "?";
        var put = new RegistryRequest(target.Registry, HttpMethod.Put, location + separator + "digest=" + Uri.EscapeDataString(digest.ToString()))
        {
            Scopes = [PushScope(target.Repository)],
            Content = () => new ByteArrayContent([]),
            AbsoluteLocation = location.StartsWith("http", StringComparison.OrdinalIgnoreCase),
        };
        using var done = await SendAsync(put, cancellationToken);
        var answer = await AnswerAsync(put, done, target, cancellationToken);
        if (!answer.IsSuccess)
        {
            await CancelUploadAsync(target, new Uri(location, UriKind.RelativeOrAbsolute), CancellationToken.None);
        }

        return (answer, chunks);
    }

    /// <summary>
    /// Asks the registry to mount a blob from another repository and reports its answer: 201 is a mount; a 202 opens
    /// an upload session instead (a refused mount), which is cancelled here.
    /// </summary>
    public async Task<RegistryAnswer> MountBlobForAnswerAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        var request = MountRequest(target, digest, fromRepository);
        using var response = await SendAsync(request, cancellationToken);
        var answer = await AnswerAsync(request, response, target, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
        {
            await CancelUploadAsync(target, location, cancellationToken);
        }

        return answer;
    }

    /// <summary>
    /// PUTs manifest bytes under a tag or digest and reports the answer. A success whose <c>Docker-Content-Digest</c>
    /// names other bytes throws <c>MULTIARCH2005</c>, as <see cref="PutManifestAsync"/> does.
    /// </summary>
    public async Task<RegistryAnswer> PutManifestForAnswerAsync(ImageReference target, ManifestContent content, CancellationToken cancellationToken)
    {
        var request = ManifestPut(target, content);
        using var response = await SendAsync(request, cancellationToken);
        var answer = await AnswerAsync(request, response, target, cancellationToken);
        if (answer.IsSuccess && HeaderDigest(response) is { } reported && reported != content.Digest)
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, target.ToString(), reported, content.Digest);
        }

        return answer;
    }

    /// <summary>GETs a manifest by tag or digest exactly as served: bytes, <c>Content-Type</c> and <c>Docker-Content-Digest</c>; nothing is parsed or verified.</summary>
    public async Task<ServedManifest> GetManifestAsServedAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(reference.Registry, HttpMethod.Get, $"/v2/{reference.Repository}/manifests/{reference.ReferenceForApi}")
        {
            Scopes = [PullScope(reference.Repository)],
            Accept = MediaTypes.ManifestAccept,
        };
        using var response = await SendFollowingRedirectsAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new ServedManifest(await AnswerAsync(request, response, reference, cancellationToken), [], null, null);
        }

        var bytes = await ReadBoundedAsync(response, MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, reference.Original, MaxManifestBytes), cancellationToken);
        return new ServedManifest(await AnswerAsync(request, response, reference, cancellationToken), bytes, response.Content.Headers.ContentType?.ToString(), HeaderDigest(response));
    }

    /// <summary>
    /// The referrers API (OCI distribution 1.1): <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c>. A registry without it
    /// answers 404; one with it answers 200 and an image index of the manifests whose <c>subject</c> is the digest.
    /// </summary>
    public async Task<(RegistryAnswer Answer, ImageIndex? Index)> GetReferrersAsync(ImageReference repository, Digest subject, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(repository.Registry, HttpMethod.Get, $"/v2/{repository.Repository}/referrers/{subject}")
        {
            Scopes = [PullScope(repository.Repository)],
            Accept = [MediaTypes.OciIndex],
        };
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (await AnswerAsync(request, response, repository, cancellationToken), null);
        }

        var bytes = await ReadBoundedAsync(response, MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, $"{repository.Name} referrers of {subject}", MaxManifestBytes), cancellationToken);
        var answer = await AnswerAsync(request, response, repository, cancellationToken);
        var index = ManifestContent.Parse(bytes, response.Content.Headers.ContentType?.MediaType, $"{repository.Name} referrers of {subject}") as ImageIndex;
        return index is null ? (answer with { Message = "the answer is not an image index" }, null) : (answer, index);
    }

    /// <summary>The repository's tags, following <c>Link</c> pages (at most 10 of 1000); none when the repository does not exist.</summary>
    public async Task<(RegistryAnswer Answer, IReadOnlyList<string> Tags)> ListTagsAsync(ImageReference repository, CancellationToken cancellationToken)
    {
        var tags = new List<string>();
        var path = $"/v2/{repository.Repository}/tags/list?n=1000";
        RegistryAnswer? answer = null;
        for (var page = 0; page < 10 && path is not null; page++)
        {
            var request = new RegistryRequest(repository.Registry, HttpMethod.Get, path) { Scopes = [PullScope(repository.Repository)] };
            using var response = await SendAsync(request, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var refused = await AnswerAsync(request, response, repository, cancellationToken);
                return (refused, tags);
            }

            var body = await ReadBoundedAsync(response, MaxManifestBytes, () => new InvalidDataException(), cancellationToken);
            answer = await AnswerAsync(request, response, repository, cancellationToken);
            using (var document = JsonDocument.Parse(body))
            {
                tags.AddRange(OciJson.GetStrings(document.RootElement, "tags"));
            }

            // Link: </v2/<name>/tags/list?n=1000&last=x>; rel="next"
            var link = response.Headers.TryGetValues("Link", out var links) ? links.FirstOrDefault() : null;
            path = link is not null && link.StartsWith("</v2/", StringComparison.Ordinal) && link.IndexOf('>', StringComparison.Ordinal) is > 1 and var close
                ? link[1..close]
                : null;
        }

        return (answer!, tags);
    }

    /// <summary>
    /// DELETE of a manifest by digest, or of a tag (OCI distribution 1.1; distribution 2.8 answers 400 DIGEST_INVALID).
    /// Deleting a manifest by digest also removes every tag that points at it.
    /// </summary>
    public async Task<RegistryAnswer> DeleteReferenceAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(reference.Registry, HttpMethod.Delete, $"/v2/{reference.Repository}/manifests/{reference.ReferenceForApi}")
        {
            Scopes = [$"repository:{reference.Repository}:delete"],
            Idempotent = true,
        };
        using var response = await SendAsync(request, cancellationToken);
        return await AnswerAsync(request, response, reference, cancellationToken);
    }

    /// <summary>DELETE of a blob from one repository (the registry's garbage collection reclaims the storage).</summary>
    public async Task<RegistryAnswer> DeleteBlobAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(repository.Registry, HttpMethod.Delete, $"/v2/{repository.Repository}/blobs/{digest}")
        {
            Scopes = [$"repository:{repository.Repository}:delete"],
            Idempotent = true,
        };
        using var response = await SendAsync(request, cancellationToken);
        return await AnswerAsync(request, response, repository, cancellationToken);
    }

    /// <summary>
    /// The answer to a request: status, and for a failure the distribution error codes and first message (or the body's
    /// first line). A 401 left after authentication is not an answer to report but a fault to fix: it throws the
    /// credentials error every other request throws (<c>MULTIARCH1003</c>, <c>MULTIARCH1004</c>).
    /// </summary>
    private async Task<RegistryAnswer> AnswerAsync(RegistryRequest request, HttpResponseMessage response, ImageReference reference, CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            throw await ErrorAsync(request, response, reference, cancellationToken);
        }

        var path = response.RequestMessage?.RequestUri?.AbsolutePath ?? request.PathAndQuery.Split('?')[0];
        var codes = new List<string>();
        string? message = null;
        if ((int)response.StatusCode >= 300 && request.Method != HttpMethod.Head)
        {
            try
            {
                var body = await ReadBoundedAsync(response, MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
                var text = System.Text.Encoding.UTF8.GetString(body).Trim();
                if (text.StartsWith('{'))
                {
                    using var document = JsonDocument.Parse(body);
                    if (document.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var error in errors.EnumerateArray())
                        {
                            if (OciJson.GetString(error, "code") is { } code)
                            {
                                codes.Add(code);
                                message ??= OciJson.GetString(error, "message");
                            }
                        }
                    }
                }
                else if (text.Length > 0)
                {
                    var line = text.Split('\n')[0].Trim();
                    message = line.Length > 200 ? line[..200] + "..." : line;
                }
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException or HttpRequestException or IOException)
            {
                // An unreadable body changes nothing: the status says enough.
            }
        }

        return new RegistryAnswer(request.Method.Method, path, (int)response.StatusCode, codes, message);
    }
}

/// <summary>One registry request, re-creatable for retries and re-authentication.</summary>
internal sealed record RegistryRequest(string Registry, HttpMethod Method, string PathAndQuery)
{
    public IReadOnlyList<string> Scopes { get; init; } = [];

    public IReadOnlyList<string> Accept { get; init; } = [];

    public Func<HttpContent>? Content { get; init; }

    /// <summary>GET, HEAD, PUT of a manifest and mounts may be retried; uploads with streamed bodies may not.</summary>
    public bool Idempotent { get; init; }

    /// <summary>The manifest a PUT sends, for the error that names its media type when the registry refuses it.</summary>
    public ManifestContent? Manifest { get; init; }

    /// <summary>The path is an absolute URL (an upload location the registry handed out).</summary>
    public bool AbsoluteLocation { get; init; }

    public bool IsRetryable => Idempotent || Method == HttpMethod.Get || Method == HttpMethod.Head;
}
