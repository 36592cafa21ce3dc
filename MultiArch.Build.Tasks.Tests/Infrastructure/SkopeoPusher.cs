using System.Text;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// Seeds registries with the real <c>skopeo</c> binary, byte for byte: the images are written in skopeo's <c>dir:</c>
/// format and copied with <c>skopeo copy --all --preserve-digests</c>, so the registry ends up with exactly our manifest bytes
/// (checked: the digest skopeo reports must equal ours).
/// </summary>
/// <remarks>
/// Each skopeo run gets its own scratch folder, used as <c>--tmpdir</c> and as the home of its blob-info cache
/// (see <see cref="SkopeoEnvironment"/>), so one push never tries cross-repository mounts learned from another.
/// </remarks>
internal static class SkopeoPusher
{
    public const string Binary = "skopeo";

    /// <summary>How long one skopeo run may take before it is killed.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Pushes one image to <c>registry/repository:tag</c>; returns its digest (equal to <see cref="TestImage.Digest"/>).</summary>
    public static Task<Digest> PushAsync(RegistryServer registry, string repository, string tag, TestImage image, CancellationToken cancellationToken = default) =>
        PushAsync(registry, repository, tag, image.MediaType, image.Manifest, image.Digest, [image], cancellationToken);

    /// <summary>Pushes an index with all its manifests and blobs to <c>registry/repository:tag</c>; returns its digest.</summary>
    public static Task<Digest> PushAsync(RegistryServer registry, string repository, string tag, TestIndex index, CancellationToken cancellationToken = default) =>
        PushAsync(registry, repository, tag, index.MediaType, index.Bytes, index.Digest, [.. index.Manifests], cancellationToken);

    /// <summary>
    /// <c>skopeo inspect --raw docker://reference</c> with the registry's TLS and credential settings: the manifest bytes
    /// exactly as the registry serves them. <paramref name="reference"/> is <c>host/repo:tag</c> or <c>host/repo@digest</c>
    /// (see <see cref="RegistryServer.Reference"/>). With <paramref name="anonymous"/> no credentials are sent.
    /// </summary>
    public static async Task<byte[]> SkopeoInspectRawAsync(RegistryServer registry, string reference, bool anonymous = false, CancellationToken cancellationToken = default)
    {
        List<string> arguments = ["inspect", "--raw", "--retry-times", "0", .. ConnectionArguments(registry, string.Empty, anonymous), "docker://" + reference];
        var result = await RunAsync(arguments, cancellationToken);
        return result.EnsureSuccess().StandardOutput;
    }

    /// <summary>
    /// Runs <c>skopeo --insecure-policy --tmpdir &lt;scratch&gt; &lt;arguments&gt;</c> in a scratch folder with
    /// <see cref="SkopeoEnvironment"/>, with <see cref="Timeout"/>, and returns the result whatever the exit code.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken = default)
    {
        var work = CreateScratchDirectory();
        try
        {
            return await RunInAsync(work, arguments, cancellationToken);
        }
        finally
        {
            TryDelete(work);
        }
    }

    /// <summary>
    /// The <c>--[prefix]tls-verify</c>, <c>--[prefix]cert-dir</c> and <c>--[prefix]creds</c> options for
    /// <paramref name="registry"/>; <paramref name="prefix"/> is <c>""</c>, <c>"src-"</c> or <c>"dest-"</c>.
    /// </summary>
    public static IReadOnlyList<string> ConnectionArguments(RegistryServer registry, string prefix, bool anonymous = false)
    {
        List<string> arguments = [];
        if (registry.IsTls)
        {
            arguments.Add($"--{prefix}tls-verify=true");
            arguments.Add($"--{prefix}cert-dir");
            arguments.Add(registry.CertDir!);
        }
        else
        {
            arguments.Add($"--{prefix}tls-verify=false");
        }

        if (registry.Username is not null && !anonymous)
        {
            arguments.Add($"--{prefix}creds");
            arguments.Add($"{registry.Username}:{registry.Password}");
        }
        else
        {
            arguments.Add($"--{prefix}no-creds");
        }

        return arguments;
    }

    /// <summary>
    /// The environment for one skopeo run. skopeo running as root keeps its blob-info cache in
    /// <c>/var/lib/containers/cache</c>, shared by every run on the machine; that cache makes skopeo try cross-repository
    /// mounts from repositories other pushes used. containers/image picks the per-user location
    /// (<c>$XDG_DATA_HOME/containers/cache</c>) when <c>_CONTAINERS_ROOTLESS_UID</c> is non-zero, so each run gets a
    /// cache of its own in <paramref name="scratch"/>. Auth files and registries.conf from the machine are ignored too.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> SkopeoEnvironment(string scratch) => new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["_CONTAINERS_ROOTLESS_UID"] = "1000",
        ["XDG_DATA_HOME"] = Path.Combine(scratch, "data"),
        ["XDG_CONFIG_HOME"] = Path.Combine(scratch, "config"),
        ["XDG_RUNTIME_DIR"] = Path.Combine(scratch, "run"),
        ["HOME"] = scratch,
        ["CONTAINERS_REGISTRIES_CONF"] = WriteEmptyRegistriesConf(scratch),
        ["DOCKER_CONFIG"] = Path.Combine(scratch, "docker"),
    };

    private static async Task<Digest> PushAsync(
        RegistryServer registry, string repository, string tag, string mediaType, byte[] manifest, Digest digest, IReadOnlyList<TestImage> images, CancellationToken cancellationToken)
    {
        var work = CreateScratchDirectory();
        try
        {
            var source = Path.Combine(work, "image");
            await WriteDirAsync(source, manifest, MediaTypes.IsIndex(mediaType), images, cancellationToken);
            var digestFile = Path.Combine(work, "digest");
            List<string> arguments =
            [
                "copy", "--all", "--preserve-digests", "--retry-times", "0", "--digestfile", digestFile,
                .. ConnectionArguments(registry, "dest-"),
                "dir:" + source,
                "docker://" + registry.Reference(repository, tag),
            ];
            (await RunInAsync(work, arguments, cancellationToken)).EnsureSuccess();

            // The real guard: skopeo 1.9.3's --preserve-digests does not stop a conversion that was asked for
            // (with -f oci it converted a Docker manifest silently), so compare what it pushed with ours.

            var pushed = (await File.ReadAllTextAsync(digestFile, cancellationToken)).Trim();
            if (pushed != digest.ToString())
            {
                throw new InvalidOperationException($"skopeo pushed {registry.Reference(repository, tag)} as {pushed}, not as {digest}: it changed the manifest.");
            }

            return digest;
        }
        finally
        {
            TryDelete(work);
        }
    }

    /// <summary>
    /// A directory in containers/image's <c>dir:</c> format: <c>version</c>, the top manifest as <c>manifest.json</c>, each
    /// child manifest of an index as <c>&lt;hex&gt;.manifest.json</c>, and every blob as <c>&lt;hex&gt;</c>. Unlike an OCI
    /// image layout, which skopeo 1.9 only reads when index.json names an OCI media type, <c>dir:</c> serves Docker
    /// schema2 manifests and manifest lists too; the media type is taken from each manifest's <c>mediaType</c>.
    /// </summary>
    private static async Task WriteDirAsync(string directory, byte[] manifest, bool isIndex, IReadOnlyList<TestImage> images, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "version"), "Directory Transport Version: 1.1\n", cancellationToken);
        await File.WriteAllBytesAsync(Path.Combine(directory, "manifest.json"), manifest, cancellationToken);

        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (isIndex)
            {
                await WriteOnceAsync(image.Digest.Hex + ".manifest.json", image.Manifest);
            }

            foreach (var blob in image.Blobs)
            {
                await WriteOnceAsync(blob.Digest.Hex, blob.Bytes);
            }
        }

        async Task WriteOnceAsync(string name, byte[] bytes)
        {
            if (written.Add(name))
            {
                await File.WriteAllBytesAsync(Path.Combine(directory, name), bytes, cancellationToken);
            }
        }
    }

    private static Task<ProcessResult> RunInAsync(string work, IReadOnlyList<string> arguments, CancellationToken cancellationToken) =>
        ProcessRunner.RunAsync(Binary, ["--insecure-policy", "--tmpdir", work, .. arguments], Timeout, SkopeoEnvironment(work), cancellationToken: cancellationToken);

    private static string CreateScratchDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "multiarch-tests", "skopeo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private static string WriteEmptyRegistriesConf(string scratch)
    {
        var path = Path.Combine(scratch, "registries.conf");
        if (!File.Exists(path))
        {
            File.WriteAllText(path, "# empty: no mirrors, no search registries, no blocked registries\n", Encoding.UTF8);
        }

        return path;
    }

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
            // best effort; it is under the temp folder
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
