namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Process-wide setup and teardown for the registry fixtures.</summary>
[TestClass]
public sealed class AssemblyHooks
{
    /// <summary>Fixture folders older than this are leftovers of a killed test run (Dispose deletes its own).</summary>
    private static readonly TimeSpan _staleAfter = TimeSpan.FromHours(12);

    /// <summary>Removes fixture folders that killed runs left under <c>$TMPDIR/multiarch-tests</c>; registries start lazily later.</summary>
    [AssemblyInitialize]
    public static void Initialize(TestContext context)
    {
        _ = context;
        var root = new DirectoryInfo(Path.Combine(Path.GetTempPath(), "multiarch-tests"));
        if (!root.Exists)
        {
            return;
        }

        foreach (var directory in root.EnumerateDirectories().Where(d => DateTime.UtcNow - d.LastWriteTimeUtc > _staleAfter))
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // another run may still be using it
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Stops every shared registry (and its token server) and deletes their folders and the end-to-end run folder.</summary>
    [AssemblyCleanup]
    public static async Task CleanupAsync()
    {
        PackageFeed.DeleteRunDirectory();
        await TestRegistries.DisposeAllAsync();
    }
}
