using System.Collections.Concurrent;
using System.Collections.Immutable;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.Publishing;

/// <summary>
/// Stitches existing per-platform images into one index and pushes it, in an order that never publishes half an
/// index: validate everything; resolve the sources side by side; bring every child into the target repository
/// (mount, or copy when the mount is refused or the source is on another registry) and verify it by digest;
/// only then move the tags. A failure at any step leaves every tag where it was.
/// </summary>
internal sealed class ManifestListPublisher
{
    private readonly RegistryClient _client;
    private readonly IBuildLog _log;

    public ManifestListPublisher(RegistryClient client, IBuildLog log)
    {
        _client = client;
        _log = log;
    }

    public async Task<PushResult> PushAsync(PushRequest request, CancellationToken cancellationToken)
    {
        Validate(request);

        var resolved = await Task.WhenAll(request.Sources.Select(s => ResolveAsync(request, s, cancellationToken)));
        var present = resolved.Where(r => r is not null).Select(r => r!).ToList();
        if (present.Count == 0)
        {
            throw MultiArchException.Create(MessageId.AllSourcesMissing);
        }

        var entries = Flatten(present);
        CheckDuplicates(entries);
        var mediaType = ChooseFormat(request, entries);
        var annotations = mediaType == MediaTypes.OciIndex ? request.DefaultAnnotations.SetItems(request.Annotations) : request.Annotations;
        var index = ImageIndex.Create(mediaType, entries.Select(e => e.Descriptor).ToList(), annotations);
        var platforms = string.Join(", ", index.Manifests.Where(d => !d.IsAttestation).Select(d => d.Platform?.ToString() ?? "?"));
        var imageCount = index.Manifests.Count(d => !d.IsAttestation);
        if (request.DryRun)
        {
            _log.Message(LogLevel.High, System.Text.Encoding.UTF8.GetString(index.Raw.Span));
            _log.Message(LogLevel.High, Messages.Text(MessageId.Summary_DryRun, request.Target.Name, index.Digest, imageCount, platforms));
            return new PushResult(index, request.Target, [], DryRun: true);
        }

        // Every child must be in the target repository, verified by digest, before any tag moves. A blob several
        // children share (a common base or app layer) is brought in once: two uploads of one blob race in a registry.
        var blobs = new ConcurrentDictionary<Digest, Lazy<Task>>();
        await Task.WhenAll(entries.Select(e => EnsureChildAsync(request.Target, e, blobs, cancellationToken)));

        var tags = request.AllTags.ToList();
        var pushed = new List<ImageReference>();
        var changed = false;
        if (tags.Count == 0)
        {
            var byDigest = request.Target.WithDigest(index.Digest);
            if (await _client.HeadManifestAsync(byDigest, cancellationToken) is null)
            {
                await _client.PutManifestAsync(byDigest, index, cancellationToken);
                changed = true;
            }

            pushed.Add(byDigest);
        }
        else
        {
            // The index goes in under its first tag written (which stores it by digest too), then the other tags.
            // A tag that already points at this exact index is not written again. Tags that exist move first and new
            // tags come last: a registry that refuses a tag (protected, immutable) refuses an existing one, and a moved
            // tag can be put back, while a created one cannot be removed on its own.
            var current = await Task.WhenAll(tags.Select(t => _client.HeadManifestAsync(request.Target.WithTag(t), cancellationToken)));
            var moved = new List<(ImageReference Reference, Descriptor Previous)>();
            var created = new List<ImageReference>();
            try
            {
                foreach (var i in Enumerable.Range(0, tags.Count).OrderBy(i => current[i] is null ? 1 : 0))
                {
                    var reference = request.Target.WithTag(tags[i]);
                    if (current[i]?.Digest == index.Digest)
                    {
                        _log.Message(LogLevel.Normal, $"{reference} already points at {index.Digest}; not pushed again.");
                        continue;
                    }

                    await _client.PutManifestAsync(reference, index, cancellationToken);
                    _log.Message(LogLevel.Normal, $"Tagged {reference} -> {index.Digest}");
                    changed = true;
                    if (current[i] is { } previous)
                    {
                        moved.Add((reference, previous));
                    }
                    else
                    {
                        created.Add(reference);
                    }
                }
            }
            catch (MultiArchException failure) when (moved.Count > 0 || created.Count > 0)
            {
                await PutTagsBackAsync(failure, moved, created, index.Digest);
                throw;
            }

            pushed.AddRange(tags.Select(request.Target.WithTag));
        }

        _log.Message(LogLevel.High, Messages.Text(MessageId.Summary_Pushed, request.Target.Name + (request.Target.Tag is null ? string.Empty : ":" + request.Target.Tag), index.Digest, imageCount, platforms));
        return new PushResult(index, request.Target, [.. pushed], DryRun: false) { Changed = changed };
    }

    /// <summary>
    /// After a tag failed: every tag this push moved goes back to the manifest it pointed at (the same bytes, so the
    /// same digest). A tag this push created cannot be deleted on its own through the registry API: it is reported.
    /// </summary>
    private async Task PutTagsBackAsync(MultiArchException failure, List<(ImageReference Reference, Descriptor Previous)> moved, List<ImageReference> created, Digest index)
    {
        foreach (var (reference, previous) in moved)
        {
            try
            {
                // Not cancellable: a build cancelled now would leave the tag moved.
                var manifest = await _client.GetManifestAsync(reference.WithDigest(previous.Digest), CancellationToken.None);
                await _client.PutManifestAsync(reference, manifest, CancellationToken.None);
                _log.Message(LogLevel.Normal, $"Put {reference} back to {previous.Digest}, because the push failed.");
            }
            catch (MultiArchException ex)
            {
                _log.Warning(ex.Code, $"{reference} could not be put back to {previous.Digest} after the push failed, and now points at {index}: {ex.Message}");
            }
        }

        foreach (var reference in created)
        {
            _log.Warning(failure.Code, $"{reference} did not exist before this push and now points at {index}; the push failed after creating it, and a tag cannot be deleted on its own.");
        }
    }

    private static void Validate(PushRequest request)
    {
        foreach (var tag in request.AllTags)
        {
            if (!ImageReference.IsValidTag(tag))
            {
                throw MultiArchException.Create(MessageId.InvalidTag, tag);
            }
        }

        if (request.Format is not (null or "oci" or "docker"))
        {
            throw MultiArchException.Create(MessageId.UnknownManifestFormat, request.Format);
        }

        if (request.Format == "docker" && (request.Annotations.Count > 0 || request.Sources.Any(s => s.Annotations.Count > 0)))
        {
            throw MultiArchException.Create(MessageId.AnnotationsNeedOci);
        }

        if (request.Sources.Length == 0)
        {
            throw MultiArchException.Create(MessageId.NoManifestInput);
        }
    }

    // ---------------------------------------------------------------- resolving sources

    /// <summary>A source as resolved: its manifest (or index) and, for an index, its children's manifests.</summary>
    private sealed record Resolved(SourceEntry Source, ManifestContent? Manifest, Descriptor Descriptor, ImmutableArray<(Descriptor Descriptor, ManifestContent Manifest)> Children);

    /// <summary>One entry of the new index and what is needed to bring it into the target repository.</summary>
    private sealed record Entry(Descriptor Descriptor, ImageReference Source, ManifestContent? Manifest, string Origin);

    private async Task<Resolved?> ResolveAsync(PushRequest request, SourceEntry source, CancellationToken cancellationToken)
    {
        if (source.Known is { } known && MediaTypes.IsImageManifest(known.MediaType) && IsComplete(source.Platform) &&
            (source.KnownConfigPlatform is not null || !request.VerifyPlatforms))
        {
            // Everything is known from the publish outputs (manifest and config): no request at all.
            var knownPlatform = source.KnownConfigPlatform is { } stated ? CompletePlatform(source, stated) : source.Platform!;
            return new Resolved(source, null, known with { Platform = knownPlatform, Annotations = source.Annotations }, []);
        }

        ManifestContent manifest;
        try
        {
            manifest = await _client.GetManifestAsync(source.Image, cancellationToken);
        }
        catch (RegistryException ex) when (ex.IsNotFound && request.IgnoreMissing)
        {
            // Only the source itself may be missing. A source that exists but is broken (a missing config or child)
            // is an error like any other: skipping it would publish an index without that platform.
            _log.Warning(ex.Code, $"{ex.Message} Skipped, because ContainerManifestIgnoreMissing is set ({source.Origin}).");
            return null;
        }

        switch (manifest)
        {
            case ImageManifest image:
                var platform = await ResolvePlatformAsync(request, source, image, cancellationToken);
                var descriptor = image.ToDescriptor() with { Platform = platform, Annotations = source.Annotations };
                _log.Message(LogLevel.Normal, $"Resolved {source.Image} -> {image.Digest} ({platform})");
                return new Resolved(source, image, descriptor, []);
            case ImageIndex index:
                var children = await Task.WhenAll(SelectFromIndex(source, index).Select(async d =>
                    (d, await _client.GetManifestAsync(source.Image.WithDigest(d.Digest), cancellationToken))));
                _log.Message(LogLevel.Normal, $"Resolved {source.Image} -> index {index.Digest} ({children.Length} entries)");
                return new Resolved(source, index, index.ToDescriptor(), [.. children]);
            default:
                throw MultiArchException.Create(MessageId.UnsupportedMediaType, source.Image.Original, manifest.MediaType);
        }
    }

    /// <summary>For an index source: its entries, or with a platform given, only that platform's image and its attestations.</summary>
    private static IEnumerable<Descriptor> SelectFromIndex(SourceEntry source, ImageIndex index)
    {
        if (source.Platform is null)
        {
            return index.Manifests;
        }

        var images = index.Manifests.Where(d => !d.IsAttestation && d.Platform is not null && Contradiction(source.Platform, d.Platform) is null && d.Platform.Os.Length > 0).ToList();
        if (images.Count == 0)
        {
            var available = string.Join(", ", index.Manifests.Where(d => !d.IsAttestation).Select(d => d.Platform?.ToString() ?? "?"));
            throw MultiArchException.Create(MessageId.SourceNotUsable, source.Image.Original, $"it is an index with no {Describe(source.Platform)} entry (it has {available}); {source.Origin}");
        }

        var digests = images.Select(d => d.Digest.ToString()).ToHashSet(StringComparer.Ordinal);
        return images.Concat(index.Manifests.Where(d => d.IsAttestation && d.AttestationSubject is { } s && digests.Contains(s)));
    }

    private async Task<Platform> ResolvePlatformAsync(PushRequest request, SourceEntry source, ImageManifest image, CancellationToken cancellationToken)
    {
        var input = source.Platform;
        if (IsComplete(input) && !request.VerifyPlatforms)
        {
            return input!;
        }

        // A partial input (only a variant or os.version) always needs the config for os and architecture.
        var configBytes = await _client.GetBlobAsync(source.Image, image.Config, cancellationToken);
        var config = ImageConfig.Parse(configBytes, $"{source.Image.Name}@{image.Config.Digest}").Platform;
        if (string.IsNullOrEmpty(config.Os) || string.IsNullOrEmpty(config.Architecture))
        {
            return IsComplete(input) ? input! : throw MultiArchException.Create(MessageId.UnknownPlatformInConfig, source.Image.Original, config.Os, config.Architecture);
        }

        return input is null ? config : CompletePlatform(source, config);
    }

    /// <summary>The input platform checked against the config's (a contradiction is an error) and completed by it.</summary>
    private static Platform CompletePlatform(SourceEntry source, Platform config)
    {
        var input = source.Platform!;
        if (Contradiction(input, config) is not null)
        {
            throw MultiArchException.Create(MessageId.PlatformMismatch, $"{source.Image.Original} ({source.Origin})", Describe(input), config.ToDisplayString());
        }

        // The input wins for what it says; the config fills in what it leaves out (os and architecture of a partial
        // platform, variant, os.version, os.features).
        return input with
        {
            Os = input.Os.Length == 0 ? config.Os : input.Os,
            Architecture = input.Architecture.Length == 0 ? config.Architecture : input.Architecture,
            Variant = input.Variant ?? config.Variant,
            OsVersion = input.OsVersion ?? config.OsVersion,
            OsFeatures = input.OsFeatures.IsDefaultOrEmpty ? config.OsFeatures : input.OsFeatures,
        };
    }

    /// <summary>An input platform names both os and architecture (not only a variant or os.version).</summary>
    private static bool IsComplete(Platform? platform) => platform is { Os.Length: > 0, Architecture.Length: > 0 };

    /// <summary>
    /// The first field where <paramref name="input"/> says something <paramref name="actual"/> (an image config, an index
    /// entry) contradicts, or null. A field either side leaves out never contradicts: a config without os.version or
    /// variant takes the input's.
    /// </summary>
    private static string? Contradiction(Platform input, Platform actual)
    {
        if (input.Os.Length > 0 && input.Os != actual.Os)
        {
            return "os";
        }

        if (input.Architecture.Length > 0 && input.Architecture != actual.Architecture)
        {
            return "architecture";
        }

        // Compare variants on the actual architecture, so that arm64 and arm64/v8 are the same platform.
        if (input.Variant is not null && actual.Variant is not null &&
            (input with { Architecture = actual.Architecture }).NormalizedVariant != actual.NormalizedVariant)
        {
            return "variant";
        }

        return input.OsVersion is not null && actual.OsVersion is not null && input.OsVersion != actual.OsVersion ? "os.version" : null;
    }

    /// <summary>A platform for messages; a partial one lists only what it gives.</summary>
    private static string Describe(Platform platform)
    {
        if (IsComplete(platform))
        {
            return platform.ToDisplayString();
        }

        var parts = new List<string>();
        if (platform.Variant is not null)
        {
            parts.Add("variant " + platform.Variant);
        }

        if (platform.OsVersion is not null)
        {
            parts.Add("os.version " + platform.OsVersion);
        }

        if (!platform.OsFeatures.IsDefaultOrEmpty)
        {
            parts.Add("os.features " + string.Join(",", platform.OsFeatures));
        }

        return string.Join(", ", parts);
    }

    /// <summary>Image entries first (in input order), then attestations, which keep pointing at their subjects.</summary>
    private static List<Entry> Flatten(IEnumerable<Resolved> sources)
    {
        var images = new List<Entry>();
        var attestations = new List<Entry>();
        foreach (var source in sources)
        {
            if (source.Children.IsDefaultOrEmpty)
            {
                images.Add(new Entry(source.Descriptor, source.Source.Image, source.Manifest, source.Source.Origin));
                continue;
            }

            foreach (var (descriptor, manifest) in source.Children)
            {
                var annotated = source.Source.Annotations.Count == 0 || descriptor.IsAttestation
                    ? descriptor
                    : descriptor with { Annotations = descriptor.Annotations.SetItems(source.Source.Annotations) };
                var entry = new Entry(annotated, source.Source.Image, manifest, source.Source.Origin);
                (descriptor.IsAttestation ? attestations : images).Add(entry);
            }
        }

        return [.. images, .. attestations];
    }

    private static void CheckDuplicates(List<Entry> entries)
    {
        var seen = new Dictionary<Platform, Entry>();
        foreach (var entry in entries.Where(e => !e.Descriptor.IsAttestation && e.Descriptor.Platform is not null))
        {
            if (seen.TryGetValue(entry.Descriptor.Platform!, out var first))
            {
                throw MultiArchException.Create(MessageId.DuplicatePlatform, entry.Descriptor.Platform!.ToDisplayString(), $"{first.Source.Original} ({first.Origin})", $"{entry.Source.Original} ({entry.Origin})");
            }

            seen[entry.Descriptor.Platform!] = entry;
        }
    }

    private static string ChooseFormat(PushRequest request, List<Entry> entries)
    {
        var allDocker = entries.All(e => e.Descriptor.MediaType == MediaTypes.DockerManifest);
        var format = request.Format ?? (allDocker && request.Annotations.Count == 0 && entries.All(e => e.Descriptor.Annotations.Count == 0) ? "docker" : "oci");
        if (format == "docker")
        {
            var oci = entries.FirstOrDefault(e => e.Descriptor.MediaType != MediaTypes.DockerManifest);
            if (oci is not null)
            {
                throw MultiArchException.Create(MessageId.DockerListNeedsDockerManifests, oci.Source.Original, oci.Descriptor.MediaType);
            }

            if (entries.Any(e => e.Descriptor.Annotations.Count > 0))
            {
                throw MultiArchException.Create(MessageId.AnnotationsNeedOci);
            }

            return MediaTypes.DockerManifestList;
        }

        return MediaTypes.OciIndex;
    }

    // ---------------------------------------------------------------- bringing children into the target repository

    /// <summary>How many times a streamed blob copy is tried as a whole (a fresh download and upload session each time).</summary>
    private const int CopyAttempts = 3;

    /// <summary>
    /// Streams a blob into the target. The upload's body is a one-shot stream, so the HTTP layer cannot replay it: a
    /// transient failure (a reset, a timeout, a 5xx) retries the whole copy, unless the registry stored the blob anyway.
    /// </summary>
    private async Task CopyBlobAsync(ImageReference source, ImageReference target, Descriptor blob, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _client.CopyBlobAsync(source, target, blob, cancellationToken);
                return;
            }
            catch (MultiArchException ex) when (attempt < CopyAttempts && IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                _log.Message(LogLevel.Low, $"MultiArch: copying {blob.Digest} into '{target.Repository}' failed ({ex.Code}: {ex.Message}); copy attempt {attempt + 1} of {CopyAttempts}.");
                if (await _client.BlobExistsAsync(target, blob.Digest, cancellationToken))
                {
                    return; // the registry stored it before the connection failed
                }
            }
        }
    }

    private static bool IsTransient(MultiArchException ex) =>
        ex.Code is "MULTIARCH1001" or "MULTIARCH1008" or "MULTIARCH1015" ||
        ex is RegistryException { StatusCode: { } status } && ((int)status >= 500 || status is System.Net.HttpStatusCode.RequestTimeout or System.Net.HttpStatusCode.TooManyRequests);

    private async Task EnsureChildAsync(ImageReference target, Entry entry, ConcurrentDictionary<Digest, Lazy<Task>> transfers, CancellationToken cancellationToken)
    {
        var digest = entry.Descriptor.Digest;
        var sameRepository = entry.Source.Registry == target.Registry && entry.Source.Repository == target.Repository;
        if (sameRepository && entry.Manifest is not null)
        {
            return; // just read from this very repository by digest-verified GET
        }

        var inTarget = target.WithDigest(digest);
        if (await _client.HeadManifestAsync(inTarget, cancellationToken) is { } existing && existing.Digest == digest)
        {
            return;
        }

        if (sameRepository)
        {
            throw MultiArchException.Create(MessageId.ChildNotPresent, $"{entry.Source.Original} ({digest})", target.Name);
        }

        var manifest = entry.Manifest ?? await _client.GetManifestAsync(entry.Source.WithDigest(digest), cancellationToken);
        if (manifest is not ImageManifest image)
        {
            throw MultiArchException.Create(MessageId.SourceNotUsable, entry.Source.Original, "a nested index cannot be copied into the target repository");
        }

        var blobs = new[] { image.Config }.Concat(image.Layers).Where(b => !MediaTypes.IsNonDistributable(b.MediaType))
            .DistinctBy(b => b.Digest).ToList();
        var sameRegistry = entry.Source.Registry == target.Registry;
        await Task.WhenAll(blobs.Select(blob => transfers.GetOrAdd(blob.Digest, _ => new Lazy<Task>(async () =>
        {
            if (await _client.BlobExistsAsync(target, blob.Digest, cancellationToken))
            {
                return;
            }

            if (sameRegistry && await _client.TryMountBlobAsync(target, blob.Digest, entry.Source.Repository, cancellationToken))
            {
                return;
            }

            await CopyBlobAsync(entry.Source, target, blob, cancellationToken);
        })).Value));

        await _client.PutManifestAsync(inTarget, manifest, cancellationToken);
        _log.Message(LogLevel.Normal, $"Copied {entry.Source.Original} ({digest}) into {target.Name}{(sameRegistry ? string.Empty : " from another registry")}");
    }
}
