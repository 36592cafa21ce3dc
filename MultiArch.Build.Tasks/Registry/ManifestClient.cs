using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Manifests and tags: read (verified by digest), check, push (read back when the outcome is unknown), list, delete,
/// and the referrers API. Failures throw coded errors; the self-test's reads and writes report the registry's answer.
/// </summary>
internal sealed class ManifestClient(RegistrySettings settings, IRegistrySender send, RegistryErrors errors, Func<RegistryRequest, Uri> uriOf)
{
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
        var request = ManifestRead(HttpMethod.Get, reference, access);
        return RetryPolicy.RetryBrokenBodyAsync(settings, request, uriOf(request), () => GetManifestOnceAsync(request, reference, missingIsNull, cancellationToken), cancellationToken);
    }

    private async Task<ManifestContent?> GetManifestOnceAsync(RegistryRequest request, ImageReference reference, bool missingIsNull, CancellationToken cancellationToken)
    {
        using var response = await send.SendAsync(request, cancellationToken);
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
            throw await errors.ErrorAsync(request, response, reference, cancellationToken);
        }

        if (response.Content.Headers.ContentType?.MediaType is "text/html" && response.RequestMessage?.RequestUri is { } servedFrom)
        {
            // A page for people (a captive portal, a proxy's login) where a manifest should be.
            throw MultiArchException.Create(MessageId.NotARegistryAnswer, request.Method, RegistryException.Redact(servedFrom), "text/html");
        }

        var bytes = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, reference.Original, HttpBodies.MaxManifestBytes), cancellationToken, settings.BodyIdleTimeout);
        var actual = Digest.FromContent(bytes);
        var expected = reference.Digest ?? HttpBodies.HeaderDigest(response);
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
        var error = await errors.ErrorAsync(request, response, reference, cancellationToken);
        if (error is not RegistryException { IsNotFound: true } notFound || notFound.ErrorCodes.Contains("NAME_UNKNOWN"))
        {
            return error;
        }

        var tagsRequest = new RegistryRequest(reference.Registry, HttpMethod.Get, $"/v2/{reference.Repository}/tags/list?n=20")
        {
            Scopes = [RegistryRequest.PullScope(reference.Repository)],
        };
        try
        {
            using var tags = await send.SendAsync(tagsRequest, cancellationToken);
            if (tags.StatusCode == HttpStatusCode.NotFound)
            {
                // Whatever the body holds (nothing, at some registries): no tag list means no repository.
                return RegistryException.From(MessageId.RepositoryNotFound, request.Method.Method, new Uri("https://" + reference.Registry + request.PathAndQuery), HttpStatusCode.NotFound, ["NAME_UNKNOWN"], reference.Registry, reference.Repository, reference.Original);
            }

            var body = await HttpBodies.ReadBoundedAsync(tags, HttpBodies.MaxErrorBytes, () => new InvalidDataException(), cancellationToken);
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
        var request = ManifestRead(HttpMethod.Head, reference, access);
        using var response = await send.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await errors.ErrorAsync(request, response, reference, cancellationToken);
        }

        var digest = HttpBodies.HeaderDigest(response) ?? reference.Digest;
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
        catch (MultiArchException ex) when (RegistryFailures.MayHaveBeenApplied(ex) && !cancellationToken.IsCancellationRequested)
        {
            await CheckAppliedAsync(target, content, ex, cancellationToken);
        }
    }

    private async Task PutManifestOnceAsync(ImageReference target, ManifestContent content, CancellationToken cancellationToken)
    {
        var request = ManifestPut(target, content);
        using var response = await send.SendAsync(request, cancellationToken);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
        {
            throw await errors.ErrorAsync(request, response, target, cancellationToken);
        }

        if (HttpBodies.HeaderDigest(response) is { } reported && reported != content.Digest)
        {
            throw MultiArchException.Create(MessageId.DigestMismatch, target.ToString(), reported, content.Digest);
        }
    }

    /// <summary>A GET or HEAD of a manifest by tag or digest, accepting every manifest type, following redirects (a mirror).</summary>
    private static RegistryRequest ManifestRead(HttpMethod method, ImageReference reference, RegistryAccess access) =>
        new(reference.Registry, method, $"/v2/{reference.Repository}/manifests/{reference.ReferenceForApi}")
        {
            Scopes = [RegistryRequest.ScopeFor(reference.Repository, access)],
            Accept = MediaTypes.ManifestAccept,
            FollowRedirects = true,
        };

    /// <summary>The PUT of manifest bytes under a tag or digest, with their media type (idempotent: the same bytes, the same digest).</summary>
    private static RegistryRequest ManifestPut(ImageReference target, ManifestContent content) =>
        new(target.Registry, HttpMethod.Put, $"/v2/{target.Repository}/manifests/{target.ReferenceForApi}")
        {
            Scopes = [RegistryRequest.PushScope(target.Repository)],
            Content = () =>
            {
                var body = new ReadOnlyMemoryContent(content.Raw);
                body.Headers.ContentType = new MediaTypeHeaderValue(content.MediaType);
                return body;
            },
            Idempotent = true,
            Manifest = content,
        };

    /// <summary>GETs a manifest by tag or digest exactly as served: bytes, <c>Content-Type</c> and <c>Docker-Content-Digest</c>; nothing is parsed or verified.</summary>
    public async Task<ServedManifest> GetManifestAsServedAsync(ImageReference reference, CancellationToken cancellationToken)
    {
        var request = ManifestRead(HttpMethod.Get, reference, RegistryAccess.Pull);
        using var response = await send.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return new ServedManifest(await errors.AnswerAsync(request, response, reference, cancellationToken), [], null, null);
        }

        var bytes = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, reference.Original, HttpBodies.MaxManifestBytes), cancellationToken);
        return new ServedManifest(await errors.AnswerAsync(request, response, reference, cancellationToken), bytes, response.Content.Headers.ContentType?.ToString(), HttpBodies.HeaderDigest(response));
    }

    /// <summary>
    /// The referrers API (OCI distribution 1.1): <c>GET /v2/&lt;name&gt;/referrers/&lt;digest&gt;</c>. A registry without it
    /// answers 404; one with it answers 200 and an image index of the manifests whose <c>subject</c> is the digest.
    /// </summary>
    public async Task<(RegistryAnswer Answer, ImageIndex? Index)> GetReferrersAsync(ImageReference repository, Digest subject, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(repository.Registry, HttpMethod.Get, $"/v2/{repository.Repository}/referrers/{subject}")
        {
            Scopes = [RegistryRequest.PullScope(repository.Repository)],
            Accept = [MediaTypes.OciIndex],
        };
        using var response = await send.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (await errors.AnswerAsync(request, response, repository, cancellationToken), null);
        }

        var bytes = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxManifestBytes, () => MultiArchException.Create(MessageId.ManifestTooLarge, $"{repository.Name} referrers of {subject}", HttpBodies.MaxManifestBytes), cancellationToken);
        var answer = await errors.AnswerAsync(request, response, repository, cancellationToken);
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
            var request = new RegistryRequest(repository.Registry, HttpMethod.Get, path) { Scopes = [RegistryRequest.PullScope(repository.Repository)] };
            using var response = await send.SendAsync(request, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var refused = await errors.AnswerAsync(request, response, repository, cancellationToken);
                return (refused, tags);
            }

            var body = await HttpBodies.ReadBoundedAsync(response, HttpBodies.MaxManifestBytes, () => new InvalidDataException(), cancellationToken);
            answer = await errors.AnswerAsync(request, response, repository, cancellationToken);
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
        using var response = await send.SendAsync(request, cancellationToken);
        return await errors.AnswerAsync(request, response, reference, cancellationToken);
    }

    /// <summary>
    /// After a PUT whose outcome is unknown: the reference read back. Pointing at these bytes, the PUT succeeded after all.
    /// Otherwise the failure stands as <c>MULTIARCH1019</c>: the reference points where it did or at these bytes (a
    /// registry may show a write late), which the message says, with what reading it back found.
    /// </summary>
    private async Task CheckAppliedAsync(ImageReference target, ManifestContent content, MultiArchException failure, CancellationToken cancellationToken)
    {
        string found;
        try
        {
            var now = await HeadManifestAsync(target, cancellationToken);
            if (now?.Digest == content.Digest)
            {
                settings.Log.Message(LogLevel.Low, $"MultiArch: PUT {target} failed ({failure.Code}), but the registry applied it: {target} points at {content.Digest}.");
                return;
            }

            found = now is null ? "found nothing there" : $"found {now.Digest}";
        }
        catch (MultiArchException check)
        {
            found = $"failed too ({check.Code}: {check.Message})";
        }

        throw MultiArchException.Create(failure, MessageId.PutOutcomeUnknown, target, content.Digest, $"{failure.Code}: {failure.Message}", found);
    }
}
