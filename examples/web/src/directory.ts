// Who is who: the usernames the app has seen (friends, room members, senders), so that any
// part of the page can name a user id.

export interface NamedUser {
  id: string;
  username: string;
}

export class Directory {
  private readonly names = new Map<string, string>();

  constructor(readonly me: NamedUser) {
    this.learn(me);
  }

  learn(user: NamedUser | null | undefined): void {
    if (user?.id && user.username) this.names.set(user.id, user.username);
  }

  name(userId: string): string {
    return this.names.get(userId) ?? `user-${userId.slice(0, 8)}`;
  }
}
