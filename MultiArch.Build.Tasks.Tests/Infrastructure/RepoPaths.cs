namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Folders of the repository the tests run from, found by walking up to <c>MultiArch.Build.Tasks.slnx</c>.</summary>
internal static class RepoPaths
{
    private const string SolutionFile = "MultiArch.Build.Tasks.slnx";
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The repository root: the folder that holds <c>MultiArch.Build.Tasks.slnx</c>.</summary>
    public static string Root => s_root.Value;

    /// <summary><c>testassets/</c> under the root.</summary>
    public static string TestAssets => Path.Combine(Root, "testassets");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No {SolutionFile} above the test assembly folder '{AppContext.BaseDirectory}'.");
    }
}
