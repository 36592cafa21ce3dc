using System.Globalization;

namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// A place in a manifest spec: the file as the user named it and a 1-based line and column.
/// <see cref="ToString"/> gives the MSBuild/compiler form <c>file(line,col)</c>, so a message that starts with it
/// is clickable in IDEs and CI logs.
/// </summary>
internal sealed record SpecLocation(string File, int Line, int Column)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{File}({Line},{Column})");
}
