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

        // Children are brought into the target repository while sources are still being resolved (see PushCoreAsync):
        // nothing of that is left running behind an error.
        var children = new ConcurrentDictionary<Digest, Task>();
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            return await PushCoreAsync(request, children, abandon.Token, cancellationToken);
        }
        catch
        {
            await abandon.CancelAsync();
            await Task.WhenAll(children.Values).ContinueWith(_ => { }, TaskScheduler.Default);
            throw;
        }
    }

    /// <param name="children">The children on their way into the target repository, by digest.</param>
    /// <param name="childToken">Cancelled when the push fails, to stop the children on their way.</param>
    private async Task<PushResult> PushCoreAsync(PushRequest request, ConcurrentDictionary<Digest, Task> children, CancellationToken childToken, CancellationToken cancellationToken)
    {

        // What the first tag holds now is read side by side with the sources: one GET (the round trip a HEAD would
        // cost) says whether this exact index is there already (a re-push writes nothing) and which children the target
        // repository certainly holds (those its current index lists).
        var tags = request.AllTags.ToList();
        var currentTask = request.DryRun || tags.Count == 0
            ? Task.FromResult<ManifestContent?>(null)
            : _client.TryGetManifestAsync(request.Target.WithTag(tags[0]), RegistryAccess.Push, cancellationToken);

        // Every child must be in the target repository, verified by digest, before any tag moves. A child from another
        // repository is brought in as soon as its manifest is read (side by side with its config read), not after every
        // source is resolved: that saves a round trip, and moves no tag. A blob several children share (a common base or
        // app layer) is brought in once: two uploads of one blob race in a registry.
        var blobs = new ConcurrentDictionary<Digest, Lazy<Task>>();
        var inTargetTask = InTargetAsync(currentTask);
        void BringEarly(Entry entry)
        {
            if (!request.DryRun && !entry.InTarget)
            {
                children.GetOrAdd(entry.Descriptor.Digest, _ => EnsureChildAsync(request.Target, entry, inTargetTask, blobs, childToken));
            }
        }

        var resolveTask = Task.WhenAll(request.Sources.Select(s => ResolveAsync(request, s, BringEarly, cancellationToken)));
        await Task.WhenAll(resolveTask, currentTask);

        var resolved = await resolveTask;
        var current = await currentTask;
        var present = resolved.Where(r => r is not null).Select(r => r!).ToList();
        if (present.Count == 0)
        {
            throw MultiArchException.Create(MessageId.AllSourcesMissing);
        }

        var entries = Flatten(present, request.Target);
        CheckDuplicates(entries);
        var mediaType = ChooseFormat(request, entries);
        var annotations = mediaType == MediaTypes.OciIndex ? request.DefaultAnnotations.SetItems(request.Annotations) : request.Annotations;
        var index = ImageIndex.Create(mediaType, entries.Select(e => e.Descriptor).ToList(), annotations);
        var platforms = string.Join(", ", index.Manifests.Where(d => !d.IsAttestation).Select(d => d.Platform?.ToString() ?? "?"));
        var imageCount = Count(index.Manifests.Count(d => !d.IsAttestation), "platform");
        if (request.DryRun)
        {
            _log.Message(LogLevel.High, System.Text.Encoding.UTF8.GetString(index.Raw.Span));
            _log.Message(LogLevel.High, Messages.Text(MessageId.Summary_DryRun, request.Target.Name, index.Digest, imageCount, platforms));
            return new PushResult(index, request.Target, [], DryRun: true);
        }

        await Task.WhenAll(entries.Select(e => children.GetOrAdd(e.Descriptor.Digest, _ => EnsureChildAsync(request.Target, e, inTargetTask, blobs, childToken))));

        var pushed = new List<ImageReference>();
        var changed = false;
        if (tags.Count == 0)
        {
            var byDigest = request.Target.WithDigest(index.Digest);
            if (await _client.HeadManifestAsync(byDigest, RegistryAccess.Push, cancellationToken) is null)
            {
                await _client.PutManifestAsync(byDigest, index, cancellationToken);
                changed = true;
            }

            pushed.Add(byDigest);
        }
        else
        {
            changed = await MoveTagsAsync(request.Target, tags, index, current?.Digest, cancellationToken);
            pushed.AddRange(tags.Select(request.Target.WithTag));
        }

        _log.Message(LogLevel.High, Messages.Text(MessageId.Summary_Pushed, request.Target.Name + (request.Target.Tag is null ? string.Empty : ":" + request.Target.Tag), index.Digest, imageCount, platforms));
        return new PushResult(index, request.Target, [.. pushed], DryRun: false) { Changed = changed };
    }

    /// <summary>
    /// Points every tag at the index; true when anything was written. A first tag that exists and points elsewhere is
    /// the canary: it is written first, alone (a registry that refuses the index, or an immutable tag, refuses it once
    /// and nothing has moved), then the other tags side by side. A new first tag (a release's new version) is written
    /// side by side with the others, a round trip sooner: a registry that refuses the index refuses every tag alike, so
    /// nothing is written, and if only another tag is refused the new tag is named in a warning, as the canary would be.
    /// When the first tag already points at this index (a re-push), the other tags are checked first and only those
    /// that differ are written; otherwise they are written without a check: a PUT costs the same round trip as the HEAD
    /// that might have spared it.
    /// </summary>
    private async Task<bool> MoveTagsAsync(ImageReference target, List<string> tags, ImageIndex index, Digest? firstTagNow, CancellationToken cancellationToken)
    {
        var write = new bool[tags.Count];
        if (firstTagNow == index.Digest)
        {
            var others = await Task.WhenAll(tags.Skip(1).Select(t => _client.HeadManifestAsync(target.WithTag(t), RegistryAccess.Push, cancellationToken)));
            for (var i = 1; i < tags.Count; i++)
            {
                write[i] = others[i - 1]?.Digest != index.Digest;
            }
        }
        else
        {
            Array.Fill(write, true);
        }

        for (var i = 0; i < tags.Count; i++)
        {
            if (!write[i])
            {
                _log.Message(LogLevel.Normal, $"{target.WithTag(tags[i])} already points at {index.Digest}; not pushed again.");
            }
        }

        async Task PutAsync(int i)
        {
            var reference = target.WithTag(tags[i]);
            await _client.PutManifestAsync(reference, index, cancellationToken);
            _log.Message(LogLevel.Normal, $"Tagged {reference} -> {index.Digest}");
        }

        var written = new ConcurrentBag<int>();
        var canary = write[0] && firstTagNow is not null;
        if (canary)
        {
            await PutAsync(0);
            written.Add(0);
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(canary ? 1 : 0, tags.Count - (canary ? 1 : 0)).Where(i => write[i]).Select(async i =>
            {
                await PutAsync(i);
                written.Add(i);
            }));
        }
        catch (MultiArchException failure) when (!written.IsEmpty)
        {
            await PutFirstTagBackAsync(failure, target.WithTag(tags[0]), firstTagNow, written.Contains(0),
                written.Where(i => i != 0).Order().Select(i => target.WithTag(tags[i])), index.Digest);
            throw;
        }

        return write.Any(w => w);
    }

    /// <summary>
    /// A tag failed while others were written: the first tag, if it moved, goes back to what it pointed at (the same
    /// bytes, so the same digest), so the target tag stays where it was. Other tags this push already wrote point at
    /// the new, complete index; they are named in a warning (their earlier targets were not read, to save a request per
    /// tag).
    /// </summary>
    private async Task PutFirstTagBackAsync(MultiArchException failure, ImageReference first, Digest? previous, bool firstWritten, IEnumerable<ImageReference> written, Digest index)
    {
        if (firstWritten && previous is { } digest)
        {
            try
            {
                // Not cancellable: a build cancelled now would leave the target tag moved.
                var manifest = await _client.GetManifestAsync(first.WithDigest(digest), CancellationToken.None);
                await _client.PutManifestAsync(first, manifest, CancellationToken.None);
                _log.Message(LogLevel.Normal, $"Put {first} back to {digest}, because the push failed.");
            }
            catch (MultiArchException ex)
            {
                _log.Warning(ex.Code, $"{first} could not be put back to {digest} after the push failed, and now points at {index}: {ex.Message}");
            }
        }
        else if (firstWritten)
        {
            _log.Warning(failure.Code, $"{first} did not exist before this push and now points at {index}; the push failed after creating it, and a tag cannot be deleted on its own.");
        }

        foreach (var reference in written)
        {
            _log.Warning(failure.Code, $"{reference} was already moved to the complete index {index} when the push failed.");
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

    /// <summary>
    /// A source as resolved: its manifest (or index) and, for an index, its children's manifests (null for an index in
    /// the target's own repository: its children are there, and nothing needs their content).
    /// </summary>
    private sealed record Resolved(SourceEntry Source, ManifestContent? Manifest, Descriptor Descriptor, ImmutableArray<(Descriptor Descriptor, ManifestContent? Manifest)> Children);

    /// <summary>
    /// One entry of the new index and what is needed to bring it into the target repository. <paramref name="InTarget"/>:
    /// known to be there already (read from the target's repository, pushed there by this build, or listed by an index
    /// there), so it costs no request.
    /// </summary>
    private sealed record Entry(Descriptor Descriptor, ImageReference Source, ManifestContent? Manifest, string Origin, bool InTarget);

    /// <summary>"1 platform", "3 platforms".</summary>
    internal static string Count(int count, string noun) =>
        count.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " + noun + (count == 1 ? string.Empty : "s");

    private static bool SameRepository(ImageReference a, ImageReference b) => a.Registry == b.Registry && a.Repository == b.Repository;

    /// <summary>The children the target repository certainly holds: those the index under the first tag lists now.</summary>
    private static async Task<IReadOnlySet<Digest>> InTargetAsync(Task<ManifestContent?> currentTask)
    {
        ManifestContent? current;
        try
        {
            current = await currentTask;
        }
        catch (MultiArchException)
        {
            return new HashSet<Digest>(); // the push fails on this error where it awaits the read itself
        }

        return current switch
        {
            ImageIndex listed => listed.Manifests.Select(d => d.Digest).ToHashSet(),
            not null => new HashSet<Digest> { current.Digest },
            null => new HashSet<Digest>(),
        };
    }

    /// <param name="bringEarly">Starts bringing an image into the target repository as soon as its manifest is read.</param>
    private async Task<Resolved?> ResolveAsync(PushRequest request, SourceEntry source, Action<Entry> bringEarly, CancellationToken cancellationToken)
    {
        if (source.Known is { } known && MediaTypes.IsImageManifest(known.MediaType) && SourcePlatform.IsComplete(source.Platform) &&
            (source.KnownConfigPlatform is not null || !request.VerifyPlatforms))
        {
            // Everything is known from the publish outputs (manifest and config): no request at all.
            var knownPlatform = source.KnownConfigPlatform is { } stated ? SourcePlatform.CompletePlatform(source, stated) : source.Platform!;
            return new Resolved(source, source.KnownManifest, known with { Platform = knownPlatform, Annotations = source.Annotations }, []);
        }

        ManifestContent manifest;
        try
        {
            manifest = source.KnownManifest ?? await _client.GetManifestAsync(source.Image, cancellationToken);
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
                bringEarly(new Entry(image.ToDescriptor(), source.Image, image, source.Origin, InTarget: SameRepository(source.Image, request.Target)));
                var platform = await ResolvePlatformAsync(request, source, image, cancellationToken);
                var descriptor = image.ToDescriptor() with { Platform = platform, Annotations = source.Annotations };
                _log.Message(LogLevel.Normal, $"Resolved {source.Image} -> {image.Digest} ({platform})");
                return new Resolved(source, image, descriptor, []);
            case ImageIndex index:
                var inTargetRepository = SameRepository(source.Image, request.Target);
                var children = await Task.WhenAll(SelectFromIndex(source, index).Select(async d =>
                    (d, inTargetRepository ? null : await _client.GetManifestAsync(source.Image.WithDigest(d.Digest), cancellationToken))));
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

        var images = index.Manifests.Where(d => !d.IsAttestation && d.Platform is not null && SourcePlatform.Contradiction(source.Platform, d.Platform) is null && d.Platform.Os.Length > 0).ToList();
        if (images.Count == 0)
        {
            var available = string.Join(", ", index.Manifests.Where(d => !d.IsAttestation).Select(d => d.Platform?.ToString() ?? "?"));
            throw MultiArchException.Create(MessageId.SourceNotUsable, source.Image.Original, $"it is an index with no {SourcePlatform.Describe(source.Platform)} entry (it has {available}); {source.Origin}");
        }

        var digests = images.Select(d => d.Digest.ToString()).ToHashSet(StringComparer.Ordinal);
        return images.Concat(index.Manifests.Where(d => d.IsAttestation && d.AttestationSubject is { } s && digests.Contains(s)));
    }

    private async Task<Platform> ResolvePlatformAsync(PushRequest request, SourceEntry source, ImageManifest image, CancellationToken cancellationToken)
    {
        var input = source.Platform;
        if (SourcePlatform.IsComplete(input) && !request.VerifyPlatforms)
        {
            return input!;
        }

        // A partial input (only a variant or os.version) always needs the config for os and architecture, unless the
        // publish outputs carried it.
        var config = source.KnownConfigPlatform ??
            ImageConfig.Parse(await _client.GetBlobAsync(source.Image, image.Config, cancellationToken), $"{source.Image.Name}@{image.Config.Digest}").Platform;
        if (string.IsNullOrEmpty(config.Os) || string.IsNullOrEmpty(config.Architecture))
        {
            return SourcePlatform.IsComplete(input) ? input! : throw MultiArchException.Create(MessageId.UnknownPlatformInConfig, source.Image.Original, config.Os, config.Architecture);
        }

        return input is null ? config : SourcePlatform.CompletePlatform(source, config);
    }

    /// <summary>Image entries first (in input order), then attestations, which keep pointing at their subjects.</summary>
    private static List<Entry> Flatten(IEnumerable<Resolved> sources, ImageReference target)
    {
        var images = new List<Entry>();
        var attestations = new List<Entry>();
        foreach (var source in sources)
        {
            var inTargetRepository = SameRepository(source.Source.Image, target);
            if (source.Children.IsDefaultOrEmpty)
            {
                images.Add(new Entry(source.Descriptor, source.Source.Image, source.Manifest, source.Source.Origin, inTargetRepository && source.Manifest is not null));
                continue;
            }

            foreach (var (descriptor, manifest) in source.Children)
            {
                var annotated = source.Source.Annotations.Count == 0 || descriptor.IsAttestation
                    ? descriptor
                    : descriptor with { Annotations = descriptor.Annotations.SetItems(source.Source.Annotations) };
                var entry = new Entry(annotated, source.Source.Image, manifest, source.Source.Origin, inTargetRepository);
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

    /// <summary>
    /// Brings one child into the target repository, with as few requests as what is known allows: nothing for a child
    /// the target's current index lists, or one read from the target repository itself (or pushed there by this build,
    /// or listed by an index there); for a child from another repository of the same registry, one mount per blob (no
    /// HEAD first: a mount is its own check, answered 201 whether the registry links the blob now or held it already)
    /// and the manifest; from another registry, a HEAD of the manifest, then a HEAD and a copy per missing blob.
    /// </summary>
    private async Task EnsureChildAsync(ImageReference target, Entry entry, Task<IReadOnlySet<Digest>> inTargetTask, ConcurrentDictionary<Digest, Lazy<Task>> transfers, CancellationToken cancellationToken)
    {
        var digest = entry.Descriptor.Digest;
        if (entry.InTarget || (await inTargetTask).Contains(digest))
        {
            return; // listed by the index the first tag points at now, or known to be in the target's repository
        }

        var sameRepository = SameRepository(entry.Source, target);

        var childInTarget = target.WithDigest(digest);
        var sameRegistry = entry.Source.Registry == target.Registry;
        if (sameRepository || !sameRegistry)
        {
            // Only a digest is known (no read, no publish output), or the bytes would cross registries: look first.
            if (await _client.HeadManifestAsync(childInTarget, RegistryAccess.Push, cancellationToken) is { } existing && existing.Digest == digest)
            {
                return;
            }

            if (sameRepository)
            {
                throw MultiArchException.Create(MessageId.ChildNotPresent, $"{entry.Source.Original} ({digest})", target.Name);
            }
        }

        var manifest = entry.Manifest ?? await _client.GetManifestAsync(entry.Source.WithDigest(digest), cancellationToken);
        if (manifest is not ImageManifest image)
        {
            throw MultiArchException.Create(MessageId.SourceNotUsable, entry.Source.Original, "a nested index cannot be copied into the target repository");
        }

        var blobs = new[] { image.Config }.Concat(image.Layers).Where(b => !MediaTypes.IsNonDistributable(b.MediaType))
            .DistinctBy(b => b.Digest).ToList();
        await Task.WhenAll(blobs.Select(blob => transfers.GetOrAdd(blob.Digest, _ => new Lazy<Task>(async () =>
        {
            if (sameRegistry && await _client.TryMountBlobAsync(target, blob.Digest, entry.Source.Repository, cancellationToken))
            {
                return;
            }

            // A copy moves the bytes through this machine: only when the target does not hold them yet.
            if (await _client.BlobExistsAsync(target, blob.Digest, cancellationToken))
            {
                return;
            }

            await CopyBlobAsync(entry.Source, target, blob, cancellationToken);
        })).Value));

        await _client.PutManifestAsync(childInTarget, manifest, cancellationToken);
        _log.Message(LogLevel.Normal, $"Copied {entry.Source.Original} ({digest}) into {target.Name}{(sameRegistry ? string.Empty : " from another registry")}");
    }
}
