using System.Globalization;
using System.IO.Compression;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// The product package, packed once per test run by <c>eng/pack.sh</c> into a local feed under
/// <see cref="RunDirectory"/>. Its version is unique to the run (<c>0.1.0-e2e.&lt;unix ms&gt;</c>), so no NuGet cache
/// can serve a stale copy; the build goes to its own <c>--artifacts-path</c>, so the repository's <c>bin/</c> and
/// <c>obj/</c> (which the test run itself uses) are never touched.
/// </summary>
internal sealed record PackageFeed(string FeedDirectory, string Version, string PackagePath)
{
    public const string PackageId = "MultiArch.Build.Tasks";

    /// <summary>How long packing may take (a cold build of the task assembly is ~5 s on 2 cores; the tool's Native AOT
    /// compile, where clang is installed, 1–3 minutes on a busy machine).</summary>
    private static readonly TimeSpan s_packTimeout = TimeSpan.FromMinutes(10);

    private static readonly string s_version = "0.1.0-e2e." + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
    private static readonly Lazy<string> s_runDirectory = new(CreateRunDirectory, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<Task<PackageFeed>> s_feed = new(() => Task.Run(PackAsync), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// <c>$TMPDIR/multiarch-tests/e2e-&lt;version&gt;</c>: the feed, the run's <c>NUGET_PACKAGES</c>, the children's empty
    /// <c>HOME</c> and every <see cref="TestProject"/>. Deleted after the last test (<see cref="DeleteRunDirectory"/>).
    /// </summary>
    public static string RunDirectory => s_runDirectory.Value;

    /// <summary>The packed feed; the first caller packs, everyone else waits for that one pack. A failed pack fails every caller.</summary>
    public static Task<PackageFeed> GetAsync() => s_feed.Value;

    /// <summary>The package file (a zip), for reading its entries.</summary>
    public ZipArchive OpenPackage() => ZipFile.OpenRead(PackagePath);

    /// <summary>Removes <see cref="RunDirectory"/> if this run made one. Binary logs of failed builds were copied out already.</summary>
    public static void DeleteRunDirectory()
    {
        if (!s_runDirectory.IsValueCreated)
        {
            return;
        }

        try
        {
            Directory.Delete(s_runDirectory.Value, recursive: true);
        }
        catch (IOException)
        {
            // AssemblyHooks removes leftovers of later runs after 12 hours
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string CreateRunDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "multiarch-tests", "e2e-" + s_version);
        Directory.CreateDirectory(path);
        return path;
    }

    private static async Task<PackageFeed> PackAsync()
    {
        var feed = Path.Combine(RunDirectory, "feed");
        var script = Path.Combine(RepoPaths.Root, "eng", "pack.sh");
        List<string> arguments =
        [
            script, "--version", s_version, "--output", feed,
            "--artifacts-path", Path.Combine(RunDirectory, "pack-build"),
            "-bl:" + Path.Combine(RunDirectory, "pack.binlog"),
        ];
        // The scrubbed child environment, but the user's HOME and NuGet cache: the pack restores the repository's own
        // dependencies (already there from building the tests), not the run's.
        var environment = TestProject.ChildEnvironment(new Dictionary<string, string?>
        {
            ["HOME"] = Environment.GetEnvironmentVariable("HOME"),
            ["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES"),
        });
        var result = await ProcessRunner.RunAsync("bash", arguments, s_packTimeout, environment, workingDirectory: RepoPaths.Root);
        result.EnsureSuccess();
        var path = result.StandardOutputText.TrimEnd().Split('\n')[^1];
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"eng/pack.sh printed '{path}', which is not a file. stderr:\n{result.StandardError}");
        }

        return new PackageFeed(feed, s_version, path);
    }
}
