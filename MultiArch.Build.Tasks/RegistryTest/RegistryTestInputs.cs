using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>The registry self-test's inputs, checked before the first request (TestContainerRegistry task and <c>multiarch test-registry</c>).</summary>
internal static class RegistryTestInputs
{
    /// <summary>The tested repository (no tag or digest) and the second repository for the cross-repository checks (default <c>&lt;repository&gt;-source</c>).</summary>
    public static (ImageReference Repository, ImageReference Source) ParseRepositories(string? repositoryText, string? sourcePath)
    {
        if (string.IsNullOrWhiteSpace(repositoryText))
        {
            throw MultiArchException.Create(MessageId.RegistryTestRepositoryMissing);
        }

        var repository = ImageReference.Parse(repositoryText.Trim());
        if (repository.Tag is not null || repository.Digest is not null)
        {
            throw MultiArchException.Create(MessageId.RegistryTestRepositoryHasTag, repositoryText.Trim());
        }

        var path = string.IsNullOrWhiteSpace(sourcePath) ? repository.Repository + "-source" : sourcePath.Trim();
        if (!ImageReference.TryParse($"{repository.Registry}/{path}", out var source, out var reason) || source.Tag is not null || source.Digest is not null)
        {
            throw MultiArchException.Create(MessageId.RegistryTestSourceInvalid, path, repository.Registry, reason ?? "it names a tag or digest");
        }

        return source.Repository == repository.Repository
            ? throw MultiArchException.Create(MessageId.RegistryTestSourceInvalid, path, repository.Registry, "it is the tested repository itself")
            : (repository, source);
    }

    /// <summary>The required capabilities: the defaults when none are named, nothing for <c>none</c>.</summary>
    public static List<string> ParseRequired(IReadOnlyList<string> names)
    {
        if (names.Count == 0)
        {
            return [.. RegistryCapabilities.DefaultRequired];
        }

        if (names is [var only] && only.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }

        return [.. names.Select(name => RegistryCapabilities.Find(name)?.Name
            ?? throw MultiArchException.Create(MessageId.UnknownRegistryCapability, name, string.Join(", ", RegistryCapabilities.All.Select(c => c.Name)))).Distinct()];
    }

    /// <summary>The coded error for a required capability the registry lacks (or that could not be checked).</summary>
    public static (string Code, string Text) MissingCapability(ImageReference repository, CapabilityResult missing) =>
        Messages.Format(MessageId.RegistryCapabilityMissing, repository.Registry, missing.Name, missing.Title,
            missing.State == CapabilityState.Skipped ? "it could not be checked: " + missing.Detail : missing.Detail);
}
