using System.Net;
using System.Net.Http.Headers;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Blobs: read a small one (a config, verified), check, mount, copy across registries (streamed, verified, the source
/// blamed when it fails), upload, delete. Upload sessions a failure leaves open are cancelled.
/// </summary>
internal sealed class BlobClient(RegistrySettings settings, IRegistrySender send, RegistryErrors errors, Func<RegistryRequest, Uri> uriOf)
{
    /// <summary>Reads a small blob (an image config) with its digest and size verified.</summary>
    public async Task<byte[]> GetBlobAsync(ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Size > HttpBodies.MaxConfigBytes)
        {
            throw MultiArchException.Create(MessageId.BlobTooLarge, descriptor.Digest, HttpBodies.MaxConfigBytes);
        }

        var request = new RegistryRequest(repository.Registry, HttpMethod.Get, $"/v2/{repository.Repository}/blobs/{descriptor.Digest}")
        {
            Scopes = [RegistryRequest.PullScope(repository.Repository)],
            FollowRedirects = true,
        };
        return await RetryPolicy.RetryBrokenBodyAsync(settings, request, uriOf(request), () => GetBlobOnceAsync(request, repository, descriptor, cancellationToken), cancellationToken);
    }

    private async Task<byte[]> GetBlobOnceAsync(RegistryRequest request, ImageReference repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        using var response = await send.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await errors.ErrorAsync(request, response, repository, cancellationToken);
        }

        var bytes = await HttpBodies.ReadBoundedAsync(response, (int)Math.Min(HttpBodies.MaxConfigBytes, descriptor.Size), () => MultiArchException.Create(MessageId.BlobTooLarge, descriptor.Digest, descriptor.Size), cancellationToken, settings.BodyIdleTimeout);
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
            Scopes = [RegistryRequest.PullScope(repository.Repository)],
        };
        using var response = await send.SendAsync(request, cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.NotFound => false,

            // A registry on object storage (S3, GCS, Azure) redirects to the blob's storage URL: it has the blob. Such a
            // URL is often signed for GET only, so following it with a HEAD would prove nothing.
            _ when RedirectHandler.IsRedirect(response.StatusCode) => true,
            _ => throw await errors.ErrorAsync(request, response, repository, cancellationToken),
        };
    }

    /// <summary>
    /// Asks the registry to mount a blob from another repository. True when it did (201); false when it refused
    /// (202 with an upload session, which is cancelled, or an error), so the caller streams the blob instead.
    /// </summary>
    public async Task<bool> TryMountBlobAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        int status;
        try
        {
            status = (await MountBlobAsync(target, digest, fromRepository, cancellationToken)).Status;
        }
        catch (RegistryException ex) when (ex.StatusCode == HttpStatusCode.Unauthorized)
        {
            status = 401; // no right to read the source repository: the blob is copied instead
        }

        if (status == (int)HttpStatusCode.Created)
        {
            return true;
        }

        settings.Log.Message(LogLevel.Low, $"MultiArch: the registry refused to mount {digest} from '{fromRepository}' into '{target.Repository}' (HTTP {status}); copying it instead.");
        return false;
    }

    /// <summary>Streams a blob from one repository (on any registry) into another, verifying its digest on the way.</summary>
    public async Task CopyBlobAsync(ImageReference source, ImageReference target, Descriptor blob, CancellationToken cancellationToken)
    {
        var get = new RegistryRequest(source.Registry, HttpMethod.Get, $"/v2/{source.Repository}/blobs/{blob.Digest}")
        {
            Scopes = [RegistryRequest.PullScope(source.Repository)],
            FollowRedirects = true,
        };
        using var download = await send.SendAsync(get, cancellationToken);
        if (download.StatusCode != HttpStatusCode.OK)
        {
            throw await errors.ErrorAsync(get, download, source, cancellationToken);
        }

        var start = StartUpload(target);
        using var session = await send.SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            throw await errors.ErrorAsync(start, session, target, cancellationToken);
        }

        var location = ResolveLocation(session.Headers.Location);
        await using var stream = await download.Content.ReadAsStreamAsync(cancellationToken);
        await using var verifying = new VerifyingStream(stream, blob.Digest, blob.Size);
        var content = new StreamingBody(verifying, blob.Size, reason => MultiArchException.Create(MessageId.SourceBlobFailed, blob.Digest, source.Registry, verifying.Position, blob.Size, target.Registry, reason));
        var put = CompleteUpload(target, location, blob.Digest, () => content);
        try
        {
            using var done = await send.SendAsync(put, cancellationToken);
            var accepted = done.StatusCode is HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK;
            if (!accepted && !verifying.IsComplete)
            {
                // The registry stopped reading: its answer is the reason, not the bytes it never saw.
                throw await errors.ErrorAsync(put, done, target, cancellationToken);
            }

            // Every byte went through: a digest that does not match is the source's (or a proxy's) doing.
            verifying.ThrowIfMismatch($"{source.Name}@{blob.Digest}");
            if (!accepted)
            {
                throw await errors.ErrorAsync(put, done, target, cancellationToken);
            }
        }
        catch (MultiArchException)
        {
            await CancelUploadAsync(target, session.Headers.Location, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Uploads bytes as a blob in one request (POST, then PUT with the digest and the bytes); a refused PUT cancels the session.</summary>
    public async Task UploadBlobAsync(ImageReference target, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var digest = Digest.FromContent(content.Span);
        var start = StartUpload(target);
        using var session = await send.SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            throw await errors.ErrorAsync(start, session, target, cancellationToken);
        }

        var put = CompleteUpload(target, ResolveLocation(session.Headers.Location), digest, () =>
        {
            var body = new ReadOnlyMemoryContent(content);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return body;
        });
        using var done = await send.SendAsync(put, cancellationToken);
        if (done.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK))
        {
            var error = await errors.ErrorAsync(put, done, target, cancellationToken);
            await CancelUploadAsync(target, session.Headers.Location, CancellationToken.None);
            throw error;
        }
    }

    /// <summary>The POST that asks to mount <paramref name="digest"/> from <paramref name="fromRepository"/> (pull there, push here).</summary>
    private static RegistryRequest MountRequest(ImageReference target, Digest digest, string fromRepository) =>
        new(target.Registry, HttpMethod.Post, $"/v2/{target.Repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(fromRepository)}")
        {
            Scopes = [RegistryRequest.PushScope(target.Repository), RegistryRequest.PullScope(fromRepository)],
            Content = () => new ByteArrayContent([]),
            Idempotent = true,
        };

    /// <summary>The POST that opens an upload session in <paramref name="target"/>'s repository.</summary>
    private static RegistryRequest StartUpload(ImageReference target) =>
        new(target.Registry, HttpMethod.Post, $"/v2/{target.Repository}/blobs/uploads/")
        {
            Scopes = [RegistryRequest.PushScope(target.Repository)],
            Content = () => new ByteArrayContent([]),
        };

    /// <summary>
    /// The PUT that completes an upload session at <paramref name="location"/> under <paramref name="digest"/>, with the
    /// bytes not sent yet (all of them, or none after the chunks).
    /// </summary>
    private static RegistryRequest CompleteUpload(ImageReference target, string location, Digest digest, Func<HttpContent> content) =>
        new(target.Registry, HttpMethod.Put, location + (location.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest.ToString()))
        {
            Scopes = [RegistryRequest.PushScope(target.Repository)],
            Content = content,
            AbsoluteLocation = IsAbsolute(location),
        };

    /// <summary>An upload location the registry gave as a whole URL (another host, a storage service), not a path.</summary>
    private static bool IsAbsolute(string location) => location.StartsWith("http", StringComparison.OrdinalIgnoreCase);

    private async Task CancelUploadAsync(ImageReference target, Uri location, CancellationToken cancellationToken)
    {
        try
        {
            var request = new RegistryRequest(target.Registry, HttpMethod.Delete, ResolveLocation(location))
            {
                Scopes = [RegistryRequest.PushScope(target.Repository)],
                AbsoluteLocation = location.IsAbsoluteUri,
            };
            using var _ = await send.SendAsync(request, cancellationToken);
        }
        catch (MultiArchException)
        {
            // Best effort: an abandoned upload session expires on its own.
        }
    }

    private static string ResolveLocation(Uri location) =>
        location.IsAbsoluteUri ? location.ToString() : location.OriginalString;

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
        using var session = await send.SendAsync(start, cancellationToken);
        if (session.StatusCode != HttpStatusCode.Accepted || session.Headers.Location is null)
        {
            return (await errors.AnswerAsync(start, session, target, cancellationToken), 0);
        }

        if (session.Headers.TryGetValues("OCI-Chunk-Min-Length", out var minimums) && int.TryParse(minimums.FirstOrDefault(), out var minimum) && minimum > chunkSize)
        {
            chunkSize = minimum;
        }

        chunkSize = Math.Max(1, chunkSize);
        var location = ResolveLocation(session.Headers.Location);
        var chunks = 0;
        for (var offset = 0; offset < content.Length; offset += chunkSize)
        {
            var chunk = content.Slice(offset, Math.Min(chunkSize, content.Length - offset));
            var range = $"{offset}-{offset + chunk.Length - 1}";
            var patch = new RegistryRequest(target.Registry, HttpMethod.Patch, location)
            {
                Scopes = [RegistryRequest.PushScope(target.Repository)],
                Content = () =>
                {
                    var body = new ReadOnlyMemoryContent(chunk);
                    body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    // The distribution form, "start-end" (inclusive), not HTTP's "bytes start-end/total".
                    body.Headers.TryAddWithoutValidation("Content-Range", range);
                    return body;
                },
                AbsoluteLocation = IsAbsolute(location),
            };
            using var patched = await send.SendAsync(patch, cancellationToken);
            chunks++;
            if (patched.StatusCode != HttpStatusCode.Accepted)
            {
                var refused = await errors.AnswerAsync(patch, patched, target, cancellationToken);
                await CancelUploadAsync(target, new Uri(location, UriKind.RelativeOrAbsolute), CancellationToken.None);
                return (refused, chunks);
            }

            if (patched.Headers.Location is { } next)
            {
                location = ResolveLocation(next);
            }
        }

        var put = CompleteUpload(target, location, digest, () => new ByteArrayContent([]));
        using var done = await send.SendAsync(put, cancellationToken);
        var answer = await errors.AnswerAsync(put, done, target, cancellationToken);
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
    public async Task<RegistryAnswer> MountBlobAsync(ImageReference target, Digest digest, string fromRepository, CancellationToken cancellationToken)
    {
        var request = MountRequest(target, digest, fromRepository);
        using var response = await send.SendAsync(request, cancellationToken);
        var answer = await errors.AnswerAsync(request, response, target, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
        {
            await CancelUploadAsync(target, location, cancellationToken);
        }

        return answer;
    }

    /// <summary>DELETE of a blob from one repository (the registry's garbage collection reclaims the storage).</summary>
    public async Task<RegistryAnswer> DeleteBlobAsync(ImageReference repository, Digest digest, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(repository.Registry, HttpMethod.Delete, $"/v2/{repository.Repository}/blobs/{digest}")
        {
            Scopes = [$"repository:{repository.Repository}:delete"],
            Idempotent = true,
        };
        using var response = await send.SendAsync(request, cancellationToken);
        return await errors.AnswerAsync(request, response, repository, cancellationToken);
    }
}
