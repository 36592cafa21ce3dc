namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>Where the repository is, found by walking up from the test assembly to <c>MultiArch.Build.Tasks.slnx</c>.</summary>
internal static class RepoPaths
{
    private const string SolutionFile = "MultiArch.Build.Tasks.slnx";

    private static readonly Lazy<string> _root = new(FindRoot);

    public static string Root => _root.Value;

    public static string TestAssets => Path.Combine(Root, "testassets");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, SolutionFile)))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No {SolutionFile} in {AppContext.BaseDirectory} or any folder above it.");
    }
}
