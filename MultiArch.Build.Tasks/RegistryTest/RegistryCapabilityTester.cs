using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>What to test: the repository to push into, a second one on the same registry for the cross-repository checks.</summary>
internal sealed record RegistryTestOptions(ImageReference Repository, ImageReference SourceRepository)
{
    /// <summary>Makes the images and tags of this run unique (<c>yyyyMMddHHmmss-xxxx</c>); the same id gives the same images.</summary>
    public string RunId { get; init; } = RegistryCapabilityTester.NewRunId();

    /// <summary>Delete what the run pushed (the <see cref="RegistryCapabilities.Delete"/> check).</summary>
    public bool Cleanup { get; init; } = true;

    /// <summary>The capabilities that must be supported; only recorded in the report.</summary>
    public IReadOnlyList<string> Required { get; init; } = RegistryCapabilities.DefaultRequired;
}

/// <summary>
/// Checks what a registry supports, the way manifest-tool's <c>integration/test-registry.sh</c> does but with nothing
/// but the registry: it makes tiny images in memory, pushes their blobs (monolithic and chunked uploads), then checks
/// each capability of <see cref="RegistryCapabilities"/> on its own — a Docker manifest list, an OCI index, annotations,
/// an index of indexes, children brought from another repository by mount and by copy, extra tags, reading everything
/// back by tag and by digest, the referrers API — and finally deletes what it pushed. Each capability ends
/// <see cref="CapabilityState.Supported"/>, <see cref="CapabilityState.NotSupported"/> with the registry's answer, or
/// <see cref="CapabilityState.Skipped"/> with the reason. Only failures that stop every request (the registry
/// unreachable, TLS, credentials) throw.
/// </summary>
internal sealed partial class RegistryCapabilityTester
{
    /// <summary>Every tag the test pushes starts with this, then the run id.</summary>
    public const string TagPrefix = "multiarch-test-";

    private readonly RegistryClient _client;
    private readonly IBuildLog _log;

    public RegistryCapabilityTester(RegistryClient client, IBuildLog log)
    {
        _client = client;
        _log = log;
    }

    public static string NewRunId() =>
        DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(2)).ToLowerInvariant();

    /// <summary>The prefix of every tag of one run: <c>multiarch-test-&lt;run id&gt;-</c>.</summary>
    public static string RunTagPrefix(string runId) => TagPrefix + runId + "-";

    public Task<RegistryTestReport> RunAsync(RegistryTestOptions options, CancellationToken cancellationToken) =>
        new TestRun(_client, _log, options).ExecuteAsync(cancellationToken);

    /// <summary>A check cannot run because something it needs failed first; the message says what.</summary>
    private sealed class SkipException(string reason) : Exception(reason);

    private sealed record Pushed(ImageReference Repository, ManifestContent Content, string? Tag);

    /// <summary>One run: its images, what it pushed (to read back and delete) and the results so far.</summary>
    private sealed partial class TestRun
    {
        private static readonly Platform[] s_platforms = [new("linux", "amd64"), new("linux", "arm64", "v8"), new("linux", "arm", "v7")];

        /// <summary>Failures that are the registry's doing (content it changed or refused), not the connection's.</summary>
        private static readonly HashSet<string> s_contentCodes =
        [
            .. new[] { MessageId.DigestMismatch, MessageId.ContentTypeMismatch, MessageId.InvalidManifest, MessageId.UnsupportedMediaType, MessageId.ManifestTooLarge, MessageId.BlobTooLarge }
                .Select(id => Messages.Format(id).Code),
        ];

        private readonly RegistryClient _client;
        private readonly IBuildLog _log;
        private readonly RegistryTestOptions _options;
        private readonly ImageReference _target;
        private readonly ImageReference _source;
        private readonly string _tagPrefix;
        private readonly RegistryTestImage[] _images;
        private readonly RegistryTestImage _mountImage;
        private readonly RegistryTestImage _copyImage;
        private readonly List<CapabilityResult> _results = [];
        private readonly List<Pushed> _pushed = [];
        private readonly List<(ImageReference Repository, Digest Digest)> _blobs = [];
        private readonly Dictionary<string, IReadOnlyList<Descriptor>> _children = [];
        private readonly Dictionary<string, string> _childFailures = [];
        private readonly Dictionary<string, ImageIndex> _indexes = [];
        private ImageIndex? _annotated;
        private bool _monolithicWorks;
        private bool _chunkedWorks;
        private string? _blockedBy;

        public TestRun(RegistryClient client, IBuildLog log, RegistryTestOptions options)
        {
            _client = client;
            _log = log;
            _options = options;
            _target = options.Repository;
            _source = options.SourceRepository;
            _tagPrefix = RunTagPrefix(options.RunId);
            _images = [.. s_platforms.Select(p => new RegistryTestImage(p, options.RunId))];
            _mountImage = new RegistryTestImage(new Platform("linux", "ppc64le"), options.RunId);
            _copyImage = new RegistryTestImage(new Platform("linux", "s390x"), options.RunId);
        }

        public async Task<RegistryTestReport> ExecuteAsync(CancellationToken cancellationToken)
        {
            var started = DateTimeOffset.UtcNow;
            var stopwatch = Stopwatch.StartNew();
            var requestsBefore = _client.RequestCount;
            _log.Message(LogLevel.Normal, $"MultiArch: testing {_target.Name} (and {_source.Name}) with run {_options.RunId}; every tag starts with {_tagPrefix}.");
            var foundBefore = await FindEarlierRunsAsync(cancellationToken);
            try
            {
                await CheckBlobUploadsAsync(cancellationToken);
                await CheckAsync(RegistryCapabilities.DockerManifestList, () => PushIndexAsync(RegistryCapabilities.DockerManifestList, MediaTypes.DockerManifestList, "docker", cancellationToken));
                await CheckAsync(RegistryCapabilities.OciIndex, () => PushIndexAsync(RegistryCapabilities.OciIndex, MediaTypes.OciIndex, "oci", cancellationToken));
                await CheckAsync(RegistryCapabilities.OciIndexAnnotations, () => PushAnnotatedAsync(cancellationToken));
                await CheckAsync(RegistryCapabilities.NestedIndex, () => PushNestedAsync(cancellationToken));
                await CheckAsync(RegistryCapabilities.CrossRepositoryMount, () => MountAsync(cancellationToken));
                await CheckAsync(RegistryCapabilities.CrossRepositoryCopy, () => CopyAsync(cancellationToken));
                await CheckAsync(RegistryCapabilities.ExtraTags, () => ExtraTagsAsync(cancellationToken));
                await CheckAsync(RegistryCapabilities.ReadByTag, () => ReadBackAsync(RegistryCapabilities.ReadByTag, byTag: true, cancellationToken));
                await CheckAsync(RegistryCapabilities.ReadByDigest, () => ReadBackAsync(RegistryCapabilities.ReadByDigest, byTag: false, cancellationToken));
                await CheckAsync(RegistryCapabilities.Referrers, () => ReferrersAsync(cancellationToken));
            }
            catch (Exception) when (_options.Cleanup && (_pushed.Count > 0 || _blobs.Count > 0))
            {
                // The run cannot go on (the connection, credentials, cancellation): delete what it can, briefly, then fail.
                using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    var (_, left) = await DeleteAsync(budget.Token);
                    _log.Message(LogLevel.Normal, left.Count == 0
                        ? "MultiArch: the registry test stopped early; what it had pushed was deleted."
                        : $"MultiArch: the registry test stopped early and left behind: {string.Join(", ", left)}");
                }
                catch (Exception ex) when (ex is MultiArchException or OperationCanceledException or HttpRequestException)
                {
                    _log.Message(LogLevel.Normal, $"MultiArch: the registry test stopped early and could not delete what it pushed under {_tagPrefix}*: {ex.Message}");
                }

                throw;
            }

            var (delete, leftBehind) = await DeleteAsync(cancellationToken);
            Record(delete);
            return new RegistryTestReport(
                _target, _source, _options.RunId, started, stopwatch.Elapsed, _client.RequestCount - requestsBefore,
                [.. _results], _options.Required, leftBehind, foundBefore, _options.Cleanup);
        }

        // ------------------------------------------------------------ checks

        private async Task CheckBlobUploadsAsync(CancellationToken cancellationToken)
        {
            var monolithic = _images[0].Blobs;
            var chunked = _images.Skip(1).SelectMany(i => i.Blobs).ToList();
            await CheckAsync(RegistryCapabilities.BlobUploadMonolithic, async () =>
            {
                foreach (var blob in monolithic)
                {
                    var answer = await AnswerOfAsync(() => _client.UploadBlobAsync(_target, blob, cancellationToken));
                    if (!answer.IsSuccess)
                    {
                        return NotSupported(RegistryCapabilities.BlobUploadMonolithic, answer);
                    }

                    Track(_target, blob);
                }

                await VerifyBlobsAsync(_target, monolithic, cancellationToken);
                _monolithicWorks = true;
                return Supported(RegistryCapabilities.BlobUploadMonolithic, $"{monolithic.Count} blobs ({monolithic.Sum(b => b.Length)} bytes), each read back by digest");
            });
            await CheckAsync(RegistryCapabilities.BlobUploadChunked, async () =>
            {
                var patches = 0;
                foreach (var blob in chunked)
                {
                    var (answer, chunks) = await _client.UploadBlobChunkedAsync(_target, blob, ChunkSize(blob), cancellationToken);
                    patches += chunks;
                    if (!answer.IsSuccess)
                    {
                        return NotSupported(RegistryCapabilities.BlobUploadChunked, answer);
                    }

                    Track(_target, blob);
                }

                await VerifyBlobsAsync(_target, chunked, cancellationToken);
                _chunkedWorks = true;
                return Supported(RegistryCapabilities.BlobUploadChunked, $"{chunked.Count} blobs in {patches} PATCH requests, each read back by digest");
            });

            // What one way could not upload goes up the other way, so that the manifest checks have their blobs.
            if (!_monolithicWorks && !_chunkedWorks)
            {
                _blockedBy = "no blob upload worked (see the blob upload rows)";
                return;
            }

            try
            {
                foreach (var blob in _monolithicWorks ? chunked : monolithic)
                {
                    await UploadAsync(_target, blob, cancellationToken);
                }
            }
            catch (SkipException ex)
            {
                _blockedBy = ex.Message;
            }
        }

        private async Task<CapabilityResult> PushIndexAsync(string name, string mediaType, string suffix, CancellationToken cancellationToken)
        {
            var entries = await ChildrenAsync(mediaType, cancellationToken);
            var index = ImageIndex.Create(mediaType, entries);
            var answer = await PushAsync(_target.WithTag(Tag(suffix)), index, cancellationToken);
            if (!answer.IsSuccess)
            {
                return NotSupported(name, answer);
            }

            _indexes[mediaType] = index;
            return Supported(name, $"{entries.Count} platforms, {index.Size} bytes, as {Short(suffix)}");
        }

        private async Task<CapabilityResult> PushAnnotatedAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.OciIndexAnnotations;
            var entries = (await ChildrenAsync(MediaTypes.OciIndex, cancellationToken))
                .Select(e => e with { Annotations = e.Annotations.SetItem("org.opencontainers.image.description", $"The {e.Platform} image of registry test run {_options.RunId}") })
                .ToList();
            var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["org.opencontainers.image.description"] = $"MultiArch.Build.Tasks registry test run {_options.RunId}",
                ["org.opencontainers.image.title"] = "MultiArch.Build.Tasks registry test",
            };
            var index = ImageIndex.Create(MediaTypes.OciIndex, entries, annotations);
            var answer = await PushAsync(_target.WithTag(Tag("annotated")), index, cancellationToken);
            if (!answer.IsSuccess)
            {
                return NotSupported(Name, answer);
            }

            // Accepted is not enough: a registry that drops annotations would serve other bytes.
            var served = await _client.GetManifestAsServedAsync(_target.WithDigest(index.Digest), cancellationToken);
            if (!served.Answer.IsSuccess)
            {
                return NotSupported(Name, served.Answer, $"accepted, but reading it back failed: {served.Answer}");
            }

            if (!served.Bytes.AsSpan().SequenceEqual(index.Raw.Span))
            {
                return NotSupported(Name, null, $"accepted, but served back as other bytes ({Digest.FromContent(served.Bytes)}): the annotations did not survive");
            }

            _annotated = index;
            return Supported(Name, $"{annotations.Count} index and {entries.Count} entry annotations served back as pushed, as {Short("annotated")}");
        }

        private async Task<CapabilityResult> PushNestedAsync(CancellationToken cancellationToken)
        {
            ImageIndex[] oci = [.. new[] { _indexes.GetValueOrDefault(MediaTypes.OciIndex), _annotated }.OfType<ImageIndex>()];
            var inner = oci.Length > 0 ? oci : [.. new[] { _indexes.GetValueOrDefault(MediaTypes.DockerManifestList) }.OfType<ImageIndex>()];
            if (inner.Length == 0)
            {
                throw new SkipException("it needs an index to nest, and the registry accepted none");
            }

            var outer = ImageIndex.Create(MediaTypes.OciIndex, [.. inner.Select(i => i.ToDescriptor())]);
            var answer = await PushAsync(_target.WithTag(Tag("nested")), outer, cancellationToken);
            return answer.IsSuccess
                ? Supported(RegistryCapabilities.NestedIndex, $"an OCI index of {inner.Length} {(inner.Length == 1 ? "index" : "indexes")}, as {Short("nested")}")
                : NotSupported(RegistryCapabilities.NestedIndex, answer);
        }

        private async Task<CapabilityResult> MountAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.CrossRepositoryMount;
            var (manifest, indexType) = await PushSourceAsync(_mountImage, "source-mount", cancellationToken);
            var refusals = new List<RegistryAnswer>();
            var blobs = manifest.Layers.Prepend(manifest.Config).ToList();
            foreach (var blob in blobs)
            {
                var answer = await _client.MountBlobAsync(_target, blob.Digest, _source.Repository, cancellationToken);
                if (answer.Status == (int)HttpStatusCode.Created)
                {
                    _blobs.Add((_target, blob.Digest));
                    continue;
                }

                refusals.Add(answer);
                try
                {
                    await _client.CopyBlobAsync(_source, _target, blob, cancellationToken);
                    _blobs.Add((_target, blob.Digest));
                }
                catch (MultiArchException ex) when (Failure(ex) is { } copy)
                {
                    return NotSupported(Name, answer, $"{answer}; copying the blob instead failed too: {copy.Detail}");
                }
            }

            var child = await PushChildAndIndexAsync(_mountImage, manifest, indexType, "mount", cancellationToken);
            if (child is not null)
            {
                return NotSupported(Name, child, $"the blobs arrived, but {child}");
            }

            return refusals.Count == 0
                ? Supported(Name, $"{blobs.Count} blobs mounted from {_source.Repository}; the child and an index naming it pushed as {Short("mount")}")
                : NotSupported(Name, refusals[0], $"{refusals[0]}: the mount was refused, so the {refusals.Count} blobs were copied instead; the index was pushed as {Short("mount")}");
        }

        private async Task<CapabilityResult> CopyAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.CrossRepositoryCopy;
            var (manifest, indexType) = await PushSourceAsync(_copyImage, "source-copy", cancellationToken);
            var blobs = manifest.Layers.Prepend(manifest.Config).ToList();
            foreach (var blob in blobs)
            {
                await _client.CopyBlobAsync(_source, _target, blob, cancellationToken);
                _blobs.Add((_target, blob.Digest));
            }

            var child = await PushChildAndIndexAsync(_copyImage, manifest, indexType, "copy", cancellationToken);
            return child is null
                ? Supported(Name, $"{blobs.Count} blobs streamed from {_source.Repository} (GET, then upload); the child and an index naming it pushed as {Short("copy")}")
                : NotSupported(Name, child, $"the blobs arrived, but {child}");
        }

        private async Task<CapabilityResult> ExtraTagsAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.ExtraTags;
            var index = _indexes.GetValueOrDefault(MediaTypes.OciIndex) ?? _indexes.GetValueOrDefault(MediaTypes.DockerManifestList)
                ?? throw new SkipException("it needs an index to tag, and the registry accepted none");
            string[] tags = [Tag("extra-1"), Tag("extra-2")];
            foreach (var tag in tags)
            {
                var answer = await PushAsync(_target.WithTag(tag), index, cancellationToken);
                if (!answer.IsSuccess)
                {
                    return NotSupported(Name, answer);
                }
            }

            foreach (var tag in tags)
            {
                var head = await _client.HeadManifestAsync(_target.WithTag(tag), cancellationToken);
                if (head?.Digest != index.Digest)
                {
                    return NotSupported(Name, null, $"after its PUT, the tag {tag} points at {(head is null ? "nothing" : head.Digest.ToString())}, not at the index {index.Digest}");
                }
            }

            return Supported(Name, $"{tags.Length} more tags ({Short("extra-1")}, {Short("extra-2")}) point at the {(index.MediaType == MediaTypes.OciIndex ? "OCI index" : "manifest list")}");
        }

        private async Task<CapabilityResult> ReadBackAsync(string name, bool byTag, CancellationToken cancellationToken)
        {
            var reads = byTag
                ? _pushed.Where(p => p.Tag is not null).Select(p => (Reference: p.Repository.WithTag(p.Tag!), p.Content)).ToList()
                : _pushed.DistinctBy(p => (p.Repository.Repository, p.Content.Digest)).Select(p => (Reference: p.Repository.WithDigest(p.Content.Digest), p.Content)).ToList();
            if (reads.Count == 0)
            {
                throw new SkipException("nothing was pushed to read back");
            }

            var problems = new List<(string Detail, RegistryAnswer? Answer)>();
            foreach (var (reference, content) in reads)
            {
                var served = await _client.GetManifestAsServedAsync(reference, cancellationToken);
                var what = $"{reference.Repository}{(byTag ? ":" + reference.Tag : "@" + reference.Digest)}";
                if (!served.Answer.IsSuccess)
                {
                    problems.Add((served.Answer.ToString(), served.Answer));
                }
                else if (!served.Bytes.AsSpan().SequenceEqual(content.Raw.Span))
                {
                    problems.Add(($"{what} came back as other bytes ({served.Bytes.Length} bytes, {Digest.FromContent(served.Bytes)}), not the {content.Size} pushed", null));
                }
                else if (ManifestContent.NormalizeContentType(served.ContentType) != content.MediaType)
                {
                    problems.Add(($"{what} came back with Content-Type '{served.ContentType ?? "(none)"}', not '{content.MediaType}'", null));
                }
                else if (served.DigestHeader is { } header && header != content.Digest)
                {
                    problems.Add(($"{what} came back with Docker-Content-Digest {header}, not {content.Digest}", null));
                }
            }

            if (problems.Count == 0)
            {
                return Supported(name, $"{reads.Count} {(byTag ? "tags" : "manifests and indexes")}: the bytes pushed, with their Content-Type");
            }

            var (detail, answer) = problems[0];
            return NotSupported(name, answer, problems.Count == 1 ? detail : $"{detail} (and {problems.Count - 1} more of {reads.Count})");
        }

        private async Task<CapabilityResult> ReferrersAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.Referrers;
            var images = _children.GetValueOrDefault(MediaTypes.OciIndex) ?? _children.GetValueOrDefault(MediaTypes.DockerManifestList);
            var subject = images is { Count: > 0 } ? images[0] : throw new SkipException("it needs an image to refer to, and none was pushed");
            var artifact = new RegistryTestArtifact(new Descriptor(subject.MediaType, subject.Digest, subject.Size), _options.RunId);
            foreach (var blob in artifact.Blobs)
            {
                await UploadAsync(_target, blob, cancellationToken);
            }

            var answer = await PushAsync(_target.WithDigest(artifact.Manifest.Digest), artifact.Manifest, cancellationToken);
            if (!answer.IsSuccess)
            {
                return NotSupported(Name, answer, $"{answer}: the registry refused a manifest with a subject and an artifactType");
            }

            for (var attempt = 1; ; attempt++)
            {
                var (listed, index) = await _client.GetReferrersAsync(_target, subject.Digest, cancellationToken);
                if (index is null)
                {
                    return NotSupported(Name, listed, listed.Status == (int)HttpStatusCode.NotFound
                        ? $"{listed}: no referrers API; clients fall back to the referrers tag schema"
                        : listed.ToString());
                }

                if (index.Manifests.Any(m => m.Digest == artifact.Manifest.Digest))
                {
                    return Supported(Name, $"the referrer (artifactType {RegistryTestArtifact.ArtifactType}) is listed for its subject");
                }

                if (attempt == 2)
                {
                    return NotSupported(Name, listed, $"{listed.Method} {listed.Path} answered 200, but its list of {index.Manifests.Length} does not name the referrer {artifact.Manifest.Digest}");
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); // some registries index referrers asynchronously
            }
        }

        private string Tag(string suffix) => _tagPrefix + suffix;

        /// <summary>The tag as the table shows it: <c>...-docker</c> (the heading names the run's prefix).</summary>
        private static string Short(string suffix) => "...-" + suffix;

        /// <summary>At least two PATCH requests per blob, however small.</summary>
        private static int ChunkSize(byte[] blob) => Math.Max(1, (blob.Length + 2) / 3);

        private static CapabilityResult Supported(string name, string detail) => new(name, CapabilityState.Supported, detail);

        private static CapabilityResult NotSupported(string name, RegistryAnswer? answer, string? detail = null) =>
            new(name, CapabilityState.NotSupported, detail ?? answer?.ToString() ?? "refused", answer);
    }
}
